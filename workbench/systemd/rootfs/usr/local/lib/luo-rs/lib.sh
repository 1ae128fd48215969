# Shared by the guest scripts of make check-systemd. Lines the host reads
# start with "LUOSD "; nboot is 0 in the first boot and 1 in the boot after
# "systemctl kexec", which adds luo_nboot=1 to the command line.
nboot=0
grep -qw luo_nboot=1 /proc/cmdline && nboot=1
say() { echo "LUOSD $* nboot=$nboot"; }
# Power off, which ends QEMU; the host would otherwise wait for its timeout.
power_off() { systemctl --no-block poweroff; }
