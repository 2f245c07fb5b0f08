# Sourced by the install scripts: apt_install PKG... installs the packages
# that are missing (apt-get update first, only then), with a policy-rc.d
# that keeps the packages' own services from starting: the tests always run
# their own servers (Samba, sshd, the registry) on loopback.
apt_install() {
    local need=() pkg status=0 policy=/usr/sbin/policy-rc.d made_policy=0
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
    done
    [ ${#need[@]} -gt 0 ] || return 0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        made_policy=1
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" || status=$?
    [ "$made_policy" = 1 ] && rm -f "$policy"
    return "$status"
}
