"""Networks: bridge networks, IPAM, veth, DNS by container name, published ports."""
