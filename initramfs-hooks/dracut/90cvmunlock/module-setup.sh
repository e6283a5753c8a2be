#!/bin/bash
# dracut module "cvmunlock": puts the cvmunlock agent, its libcryptsetup token
# plugin and the TPM/SEV-SNP drivers they need into the initramfs, so that
# systemd-cryptsetup opens the root volume with the vTPM-sealed key.
#
# Only included when asked for: dracut --add cvmunlock (or add_dracutmodules+=
# " cvmunlock " in dracut.conf.d). docs/image-builder.md has the whole recipe.
#
# dracut sources this file and calls check/depends/installkernel/install; the
# variables below (initdir, moddir, systemdsystemunitdir, libdirs, SYSTEMCTL,
# dracutsysrootdir) and the inst*/d* helpers are dracut's.
# shellcheck shell=bash disable=SC2154

# Where `cmake --install` puts the agent, for the usual prefixes; dracut's own
# PATH does not include /usr/local.
cvmunlock_find_binary() {
	local dir
	for dir in /usr/bin /usr/sbin /usr/local/bin /usr/local/sbin /bin /sbin; do
		if [[ -x $dracutsysrootdir$dir/cvmunlock ]]; then
			printf '%s\n' "$dir/cvmunlock"
			return 0
		fi
	done
	return 1
}

# The libraries that libtss2-tctildr opens with dlopen(), so ldd-based
# dependency resolution cannot see them. The device TCTI is the one used in
# the guest; the ESAPI stack is linked, listed to be explicit.
cvmunlock_tss2_libs() {
	printf '%s\n' libtss2-tcti-device.so.0 libtss2-tctildr.so.0 libtss2-esys.so.0 \
		libtss2-mu.so.0 libtss2-rc.so.0 libtss2-sys.so.1
}

# called by dracut
check() {
	cvmunlock_find_binary >/dev/null || return 1
	# 255: only when asked for (--add cvmunlock) or required by another module.
	return 255
}

# called by dracut
depends() {
	# crypt: systemd-cryptsetup, its generator and libcryptsetup;
	# systemd-ask-password: the console prompt for the recovery key.
	echo crypt systemd systemd-ask-password
	return 0
}

# called by dracut
installkernel() {
	# TPM 2.0 interfaces of hypervisors' vTPMs (built in on most distribution
	# kernels, then dracut-install skips them), dm-crypt, configfs (for the
	# TSM report interface) and the SEV-SNP guest driver; tsm exists from 6.7.
	hostonly='' instmods tpm tpm_tis_core tpm_tis tpm_crb dm_crypt configfs
	hostonly='' instmods -s sev-guest tsm
	return 0
}

# cvmunlock_install_tree DIR: every file under DIR (on the build host) at the
# same path in the initramfs; nothing when DIR does not exist.
cvmunlock_install_tree() {
	local dir=$1 file
	[[ -d $dracutsysrootdir$dir ]] || return 0
	while IFS= read -r -d '' file; do
		inst_simple "${file#"$dracutsysrootdir"}" || return 1
	done < <(find "$dracutsysrootdir$dir" -type f -print0)
}

# cvmunlock_install_units: the cvmunlock-* units installed on the build host
# (but the after-boot policy update),
# enabled in the initrd as their [Install] sections say (templates are pulled
# in by their sockets or by crypttab and are not enabled themselves).
cvmunlock_install_units() {
	local unit name
	for unit in "$dracutsysrootdir$systemdsystemunitdir"/cvmunlock-*; do
		[[ -f $unit ]] || continue
		name=${unit##*/}
		# Runs in the real root after boot (it needs /var/lib/cvmunlock), never in the initrd.
		[[ $name == cvmunlock-update-policy.service ]] && continue
		inst_simple "$systemdsystemunitdir/$name" || return 1
		[[ $name == *@.* ]] && continue
		grep -q '^\[Install\]' "$unit" || continue
		$SYSTEMCTL -q --root "$initdir" enable "$name" ||
			dwarn "cvmunlock: could not enable $name in the initramfs"
	done
	return 0
}

# called by dracut
install() {
	local binary lib
	binary=$(cvmunlock_find_binary) || {
		derror "cvmunlock: the cvmunlock binary is not installed"
		return 1
	}
	inst_binary "$binary" || return 1

	# libcryptsetup loads token plugins only from its compiled-in directory
	# (/lib/<triplet>/cryptsetup on Debian/Ubuntu, /usr/lib64/cryptsetup on
	# Fedora): install ours wherever the build host has it, at the same path.
	inst_libdir_file "cryptsetup/libcryptsetup-token-cvmunlock.so"
	[[ -n $(find "$initdir" -name libcryptsetup-token-cvmunlock.so -print -quit) ]] ||
		dwarn "cvmunlock: libcryptsetup-token-cvmunlock.so not found; LUKS2 tokens will not open by themselves"

	while read -r lib; do
		inst_libdir_file "$lib"
	done < <(cvmunlock_tss2_libs)

	cvmunlock_install_units || return 1
	# securityfs (the event log) is mounted by systemd itself; configfs (the
	# TSM report interface of SEV-SNP guests) only by sys-kernel-config.mount,
	# which systemd links into sysinit.target but dracut does not.
	inst_multiple -o "$systemdsystemunitdir"/sys-kernel-config.mount "$systemdsystemunitdir"/modprobe@.service
	if [[ -f $initdir$systemdsystemunitdir/sys-kernel-config.mount ]]; then
		$SYSTEMCTL -q --root "$initdir" add-wants sysinit.target sys-kernel-config.mount ||
			dwarn "cvmunlock: could not add sys-kernel-config.mount to sysinit.target"
	fi
	# Trust anchors (AMD root certificates, expected measurements) and config.
	cvmunlock_install_tree /usr/share/cvmunlock || return 1
	cvmunlock_install_tree /usr/local/share/cvmunlock || return 1
	cvmunlock_install_tree /etc/cvmunlock || return 1
	return 0
}
