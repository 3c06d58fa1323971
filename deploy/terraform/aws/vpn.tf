# SPDX-License-Identifier: Apache-2.0
# The network path from GCP (Dataproc, Flink) to MSK: a site-to-site IPsec VPN with BGP between
# this VPC's virtual private gateway and a GCP HA VPN gateway (deploy/terraform/gcp/vpn.tf), two
# connections of two tunnels each. MSK keeps public access off; its brokers are reached on their
# private addresses, and their names are answered by a Route 53 Resolver inbound endpoint that
# Cloud DNS forwards to. Made only when var.gcp_vpn is set (second apply, docs/deploy.md step 9).

locals {
  gcp_vpn_enabled = var.gcp_vpn != null
  gcp_peers       = local.gcp_vpn_enabled ? { for i, ip in var.gcp_vpn.peer_ips : tostring(i) => ip } : {}
  vpn_route_tables = local.gcp_vpn_enabled ? merge(
    { for az, rt in aws_route_table.private : "private-${az}" => rt.id },
    { data = aws_route_table.data.id },
  ) : {}
}

resource "aws_vpn_gateway" "gcp" {
  count = local.gcp_vpn_enabled ? 1 : 0

  vpc_id          = aws_vpc.this.id
  amazon_side_asn = 64512

  tags = {
    Name = "${var.name}-gcp"
  }
}

resource "aws_customer_gateway" "gcp" {
  for_each = local.gcp_peers

  bgp_asn    = var.gcp_vpn.bgp_asn
  ip_address = each.value
  type       = "ipsec.1"

  tags = {
    Name = "${var.name}-gcp-${each.key}"
  }
}

resource "aws_vpn_connection" "gcp" {
  for_each = local.gcp_peers

  vpn_gateway_id      = aws_vpn_gateway.gcp[0].id
  customer_gateway_id = aws_customer_gateway.gcp[each.key].id
  type                = "ipsec.1"
  static_routes_only  = false

  tags = {
    Name = "${var.name}-gcp-${each.key}"
  }
}

resource "aws_vpn_gateway_route_propagation" "gcp" {
  for_each = local.vpn_route_tables

  vpn_gateway_id = aws_vpn_gateway.gcp[0].id
  route_table_id = each.value
}

resource "aws_security_group" "dns_inbound" {
  count = local.gcp_vpn_enabled ? 1 : 0

  name        = "${var.name}-dns-inbound"
  description = "DNS from GCP over the VPN (MSK broker names)"
  vpc_id      = aws_vpc.this.id
}

resource "aws_vpc_security_group_ingress_rule" "dns_inbound" {
  for_each = local.gcp_vpn_enabled ? toset(["tcp", "udp"]) : toset([])

  security_group_id = aws_security_group.dns_inbound[0].id
  cidr_ipv4         = var.gcp_vpn.cidr
  ip_protocol       = each.value
  from_port         = 53
  to_port           = 53
  description       = "DNS from GCP"
}

resource "aws_route53_resolver_endpoint" "inbound" {
  count = local.gcp_vpn_enabled ? 1 : 0

  name               = "${var.name}-from-gcp"
  direction          = "INBOUND"
  security_group_ids = [aws_security_group.dns_inbound[0].id]

  dynamic "ip_address" {
    for_each = aws_subnet.data

    content {
      subnet_id = ip_address.value.id
    }
  }
}
