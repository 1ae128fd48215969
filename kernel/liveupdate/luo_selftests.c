// SPDX-License-Identifier: GPL-2.0
/*
 * Live Update Orchestrator: the test hook (CONFIG_LIVEUPDATE_SELFTESTS).
 *
 * Written in C on purpose: it is the in-tree proof that a C driver can take
 * part in live updates through include/linux/liveupdate.h. The interface is
 * described in luo_selftests.h; the kselftests in
 * tools/testing/selftests/liveupdate/orchestration/ drive it.
 */
#define pr_fmt(fmt) "luo_selftest: " fmt

#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/io.h>
#include <linux/kexec_handover.h>
#include <linux/liveupdate.h>
#include <linux/memfd.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "luo_internal.h"
#include "luo_selftests.h"

/**
 * struct luo_test_subsystem - a test subsystem
 * @h: The LUO subsystem.
 * @name: Its name (@h.name points here).
 * @folio: This kernel's copy of the user's page.
 * @outgoing: The data handed over (the physical address of @folio), 0 when
 *	not prepared.
 * @incoming: In the next kernel, the restored page of the previous one.
 */
struct luo_test_subsystem {
	struct liveupdate_subsystem h;
	char name[LUO_SELFTEST_NAME_LENGTH];
	struct folio *folio;
	u64 outgoing;
	/* The handed-over page and whether FINISH gave it back, under luo_tests_data_lock. */
	struct folio *incoming;
	bool finished;
};

static struct luo_test_subsystem *luo_tests[LUO_SELFTEST_MAX_SUBSYSTEMS];
static DEFINE_MUTEX(luo_tests_lock);
/*
 * Lock order: luo_tests_lock, then LUO's transition (registration waits
 * for a running one), then luo_tests_data_lock, which FINISH takes from
 * inside a transition; under luo_tests_data_lock only LUO's short shared
 * lock is taken (liveupdate_get_subsystem_data()), never a transition.
 */
static DEFINE_MUTEX(luo_tests_data_lock);

static struct luo_test_subsystem *to_test(struct liveupdate_subsystem *h)
{
	return container_of(h, struct luo_test_subsystem, h);
}

static int luo_test_prepare(struct liveupdate_subsystem *h, u64 *data)
{
	struct luo_test_subsystem *t = to_test(h);
	int err;

	if (str_has_prefix(t->name, LUO_SELFTEST_PREPARE_FAIL))
		return -EIO;
	if (str_has_prefix(t->name, LUO_SELFTEST_PREPARE_SLOW))
		msleep(1000);
	err = kho_preserve_folio(t->folio);
	if (err)
		return err;
	t->outgoing = PFN_PHYS(folio_pfn(t->folio));
	*data = t->outgoing;
	return 0;
}

static int luo_test_freeze(struct liveupdate_subsystem *h, u64 *data)
{
	struct luo_test_subsystem *t = to_test(h);

	if (str_has_prefix(t->name, LUO_SELFTEST_FREEZE_FAIL))
		return -EIO;
	return *data == t->outgoing ? 0 : -EINVAL;
}

static void luo_test_cancel(struct liveupdate_subsystem *h, u64 data)
{
	struct luo_test_subsystem *t = to_test(h);

	if (t->outgoing) {
		kho_unpreserve_folio(t->folio);
		t->outgoing = 0;
	}
}

/*
 * The page KHO holds at @data, an address nobody trusts (the previous
 * kernel's, or root's through LUO_CMD_ENTER_UPDATED): checked quietly
 * first, since kho_restore_folio() warns. NULL if it is none.
 */
static struct folio *luo_test_restore_page(u64 data)
{
	if (!data || !PAGE_ALIGNED(data) || kho_preserved_folio_order(data) != 0)
		return NULL;
	return kho_restore_folio(data);
}

/*
 * Restores the page the previous kernel handed over, once; not after
 * FINISH gave it back. Called with luo_tests_data_lock held.
 */
static int luo_test_restore(struct luo_test_subsystem *t, u64 data)
{
	lockdep_assert_held(&luo_tests_data_lock);
	if (t->incoming)
		return 0;
	if (t->finished)
		return -ENODATA;
	t->incoming = luo_test_restore_page(data);
	return t->incoming ? 0 : -EINVAL;
}

static void luo_test_boot(struct liveupdate_subsystem *h, u64 data)
{
	guard(mutex)(&luo_tests_data_lock);
	to_test(h)->finished = false;
	pr_info("%s: handed over data %#llx\n", to_test(h)->name, data);
}

static void luo_test_finish(struct liveupdate_subsystem *h, u64 data)
{
	struct luo_test_subsystem *t = to_test(h);

	guard(mutex)(&luo_tests_data_lock);
	/* Nothing handed over stays reserved: restore what nobody read. */
	if (data && !luo_test_restore(t, data))
		pr_info("%s: finished\n", t->name);
	if (t->incoming) {
		folio_put(t->incoming);
		t->incoming = NULL;
	}
	t->finished = true;
}

static const struct liveupdate_subsystem_ops luo_test_ops = {
	.prepare = luo_test_prepare,
	.freeze = luo_test_freeze,
	.cancel = luo_test_cancel,
	.boot = luo_test_boot,
	.finish = luo_test_finish,
	.owner = THIS_MODULE,
};

static int luo_test_find(const char *name)
{
	int i;

	for (i = 0; i < LUO_SELFTEST_MAX_SUBSYSTEMS; i++)
		if (luo_tests[i] && !strcmp(luo_tests[i]->name, name))
			return i;
	return -ENOENT;
}

static void luo_test_free(struct luo_test_subsystem *t)
{
	if (t->incoming)
		folio_put(t->incoming);
	folio_put(t->folio);
	kfree(t);
}

static int luo_test_register(const struct luo_arg_subsystem *arg)
{
	struct luo_test_subsystem *t;
	int slot, err;

	for (slot = 0; slot < LUO_SELFTEST_MAX_SUBSYSTEMS && luo_tests[slot]; slot++)
		;
	if (slot == LUO_SELFTEST_MAX_SUBSYSTEMS)
		return -ENOSPC;

	t = kzalloc_obj(*t);
	if (!t)
		return -ENOMEM;
	t->folio = folio_alloc(GFP_KERNEL, 0);
	if (!t->folio) {
		kfree(t);
		return -ENOMEM;
	}
	if (copy_from_user(folio_address(t->folio), u64_to_user_ptr((u64)(uintptr_t)arg->data_page),
			   PAGE_SIZE)) {
		luo_test_free(t);
		return -EFAULT;
	}
	strscpy(t->name, arg->name);
	t->h.ops = &luo_test_ops;
	t->h.name = t->name;

	err = liveupdate_register_subsystem(&t->h);
	if (err) {
		luo_test_free(t);
		return err;
	}
	luo_tests[slot] = t;
	return 0;
}

static int luo_test_unregister(int slot)
{
	int err = liveupdate_unregister_subsystem(&luo_tests[slot]->h);

	if (err)
		return err;
	luo_test_free(luo_tests[slot]);
	luo_tests[slot] = NULL;
	return 0;
}

static int luo_test_getdata(struct luo_test_subsystem *t, void __user *page)
{
	void *src;
	u64 data;
	int err;

	/* FINISH must not give the page back while it is copied. */
	guard(mutex)(&luo_tests_data_lock);
	if (liveupdate_state_updated()) {
		err = liveupdate_get_subsystem_data(&t->h, &data);
		if (!err)
			err = luo_test_restore(t, data);
		if (err)
			return err;
		src = folio_address(t->incoming);
	} else {
		/* Prepared and not cancelled: the page this kernel hands over. */
		if (!t->outgoing)
			return -ENODATA;
		src = phys_to_virt(t->outgoing);
	}
	return copy_to_user(page, src, PAGE_SIZE) ? -EFAULT : 0;
}

static long luo_selftest_enter_updated(const struct liveupdate_selftest *cmd)
{
	struct luo_arg_incoming arg;

	if (copy_from_user(&arg, u64_to_user_ptr(cmd->arg), sizeof(arg)))
		return -EFAULT;
	if (strnlen(arg.name, sizeof(arg.name)) == sizeof(arg.name) || !arg.name[0])
		return -EINVAL;
	return luo_selftest_add_incoming(arg.name, arg.data);
}

static long luo_selftest_cmd(const struct liveupdate_selftest *cmd)
{
	struct luo_arg_subsystem arg;
	int slot;

	if (cmd->cmd == LUO_CMD_ENTER_UPDATED)
		return luo_selftest_enter_updated(cmd);
	if (cmd->cmd == LUO_CMD_DAMAGE_HANDOVER)
		return cmd->arg > LUO_DAMAGE_MAX ? -EINVAL :
		       luo_selftest_damage_handover(cmd->arg);
	if (copy_from_user(&arg, u64_to_user_ptr(cmd->arg), sizeof(arg)))
		return -EFAULT;
	if (strnlen(arg.name, sizeof(arg.name)) == sizeof(arg.name) || !arg.name[0])
		return -EINVAL;

	guard(mutex)(&luo_tests_lock);
	slot = luo_test_find(arg.name);
	switch (cmd->cmd) {
	case LUO_CMD_SUBSYSTEM_REGISTER:
		return slot >= 0 ? -EEXIST : luo_test_register(&arg);
	case LUO_CMD_SUBSYSTEM_UNREGISTER:
		return slot < 0 ? slot : luo_test_unregister(slot);
	case LUO_CMD_SUBSYSTEM_GETDATA:
		return slot < 0 ? slot : luo_test_getdata(luo_tests[slot], arg.data_page);
	default:
		return -EOPNOTSUPP;
	}
}

static long luo_selftest_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct liveupdate_selftest st;

	switch (cmd) {
	case LIVEUPDATE_IOCTL_FREEZE:
		if (liveupdate_get_state() != LIVEUPDATE_STATE_PREPARED)
			return -EBUSY;
		return luo_selftest_freeze();
	case LIVEUPDATE_IOCTL_SELFTESTS:
		if (copy_from_user(&st, (void __user *)arg, sizeof(st)))
			return -EFAULT;
		return luo_selftest_cmd(&st);
	default:
		return -ENOTTY;
	}
}

static const struct file_operations luo_selftest_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = luo_selftest_ioctl,
};

/*
 * Registered at subsys_initcall, long before LUO's device exists: drivers
 * can register from any initcall level. The kselftests find it by name.
 */
static const struct liveupdate_subsystem_ops luo_test_early_ops = {
	.owner = THIS_MODULE,
};

static struct liveupdate_subsystem luo_test_early = {
	.ops = &luo_test_early_ops,
	.name = "ksft_early",
};

static struct liveupdate_file_handler luo_test_file_handler;

/*
 * The test file handler registers here too, before the memfd handler
 * (device_initcall): FD_PRESERVE asks handlers in registration order, so it
 * gets the "ksft_*" memfds and memfd-v1 all the others.
 */
static int __init luo_selftest_early_init(void)
{
	int err = liveupdate_register_subsystem(&luo_test_early);

	if (err)
		pr_err("cannot register %s: %d\n", luo_test_early.name, err);
	if (!err) {
		err = liveupdate_register_file_handler(&luo_test_file_handler);
		if (err)
			pr_err("cannot register the test file handler: %d\n", err);
	}
	return err;
}
subsys_initcall(luo_selftest_early_init);

/*
 * A test file handler, LUO_SELFTEST_FILE_COMPATIBLE: preserves the first
 * bytes of a memfd named "ksft_*" by copying them into a KHO-preserved page,
 * and restores them into a new memfd. It exercises LUO's file machinery
 * (tokens, per-file states, the file-descriptors hand-over, finish) with a
 * handler that is a C user of the C API; the real memfd handler preserves
 * the file's own folios instead.
 */
#define LUO_TEST_FILE_MAGIC	0x6b7366742d66696cULL	/* "ksft-fil" */

struct luo_test_file_ser {
	u64 magic;
	u64 size;
	u8 bytes[PAGE_SIZE - 16];
};

static bool luo_test_file_can_preserve(struct liveupdate_file_handler *h, struct file *file)
{
	return shmem_file(file) &&
	       str_has_prefix(file->f_path.dentry->d_name.name, "memfd:ksft_");
}

static int luo_test_file_prepare(struct liveupdate_file_handler *h, struct file *file,
				 u64 *data)
{
	struct luo_test_file_ser *ser = kho_alloc_preserve(sizeof(*ser));
	loff_t pos = 0;
	ssize_t n;

	if (IS_ERR(ser))
		return PTR_ERR(ser);
	n = kernel_read(file, ser->bytes,
			min_t(loff_t, i_size_read(file_inode(file)), sizeof(ser->bytes)), &pos);
	if (n < 0) {
		kho_unpreserve_free(ser);
		return n;
	}
	ser->magic = LUO_TEST_FILE_MAGIC;
	ser->size = n;
	*data = virt_to_phys(ser);
	return 0;
}

static void luo_test_file_cancel(struct liveupdate_file_handler *h, struct file *file, u64 data)
{
	kho_unpreserve_free(phys_to_virt(data));
}

/* The page the previous kernel handed over, checked; NULL if it is none. */
static struct folio *luo_test_file_restore(u64 data)
{
	struct luo_test_file_ser *ser;
	struct folio *folio;

	folio = luo_test_restore_page(data);
	if (!folio)
		return NULL;
	ser = folio_address(folio);
	if (ser->magic != LUO_TEST_FILE_MAGIC || ser->size > sizeof(ser->bytes)) {
		folio_put(folio);
		return NULL;
	}
	return folio;
}

static int luo_test_file_retrieve(struct liveupdate_file_handler *h, u64 data,
				  struct file **file)
{
	struct folio *folio = luo_test_file_restore(data);
	struct luo_test_file_ser *ser;
	struct file *f;
	loff_t pos = 0;
	ssize_t n;
	u64 size;

	if (!folio)
		return -EINVAL;
	ser = folio_address(folio);
	f = memfd_alloc_file("ksft_restored", 0);
	if (IS_ERR(f)) {
		folio_put(folio);
		return PTR_ERR(f);
	}
	size = ser->size;
	n = kernel_write(f, ser->bytes, size, &pos);
	folio_put(folio);
	if (n != size) {
		fput(f);
		return n < 0 ? n : -EIO;
	}
	*file = f;
	return 0;
}

static void luo_test_file_finish(struct liveupdate_file_handler *h, struct file *file, u64 data,
				 bool reclaimed)
{
	struct folio *folio;

	pr_info("file %#llx finished, %s\n", data, reclaimed ? "restored" : "never restored");
	if (reclaimed)
		return;
	folio = luo_test_file_restore(data);
	if (folio)
		folio_put(folio);
}

static const struct liveupdate_file_ops luo_test_file_ops = {
	.prepare = luo_test_file_prepare,
	.cancel = luo_test_file_cancel,
	.finish = luo_test_file_finish,
	.retrieve = luo_test_file_retrieve,
	.can_preserve = luo_test_file_can_preserve,
	.owner = THIS_MODULE,
};

static struct liveupdate_file_handler luo_test_file_handler = {
	.ops = &luo_test_file_ops,
	.compatible = LUO_SELFTEST_FILE_COMPATIBLE,
};

static int __init luo_selftest_init(void)
{
	struct dentry *dir = debugfs_create_dir(LUO_SELFTEST_DEBUGFS_DIR, NULL);

	debugfs_create_file(LUO_SELFTEST_DEBUGFS_FILE, 0600, dir, NULL, &luo_selftest_fops);
	return 0;
}
late_initcall(luo_selftest_init);
