// SPDX-License-Identifier: GPL-2.0

#include <linux/mm.h>

__rust_helper void *rust_helper_folio_address(const struct folio *folio)
{
	return folio_address(folio);
}

__rust_helper size_t rust_helper_folio_size(const struct folio *folio)
{
	return folio_size(folio);
}

__rust_helper unsigned int rust_helper_folio_order(const struct folio *folio)
{
	return folio_order(folio);
}

__rust_helper void rust_helper_folio_put(struct folio *folio)
{
	folio_put(folio);
}

__rust_helper phys_addr_t rust_helper_virt_to_phys(void *address)
{
	return virt_to_phys(address);
}

__rust_helper int rust_helper_pfn_valid(unsigned long pfn)
{
	return pfn_valid(pfn);
}

__rust_helper struct folio *rust_helper_pfn_folio(unsigned long pfn)
{
	return pfn_folio(pfn);
}

__rust_helper unsigned long rust_helper_page_to_pfn(const struct page *page)
{
	return page_to_pfn(page);
}

__rust_helper int rust_helper_cond_resched(void)
{
	return cond_resched();
}
