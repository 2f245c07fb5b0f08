"""Linux isolation: namespaces, mounts, pivot_root, /dev, capabilities,
seccomp, cgroups, the per-container monitor and exec into a container."""
