# SPDX-License-Identifier: Apache-2.0
# HA VPN to the AWS VPC (deploy/terraform/aws/vpn.tf): the MSK brokers are only reachable on
# their private addresses, MSK public access stays off. Four tunnels (two AWS connections, one
# per HA VPN interface, two tunnels each), routes exchanged with BGP by a Cloud Router.
# Dedicated or Partner Interconnect with an AWS Direct Connect partner is the higher-bandwidth
# alternative; the addressing and DNS below stay the same.
# Order: apply once with aws_tunnels = [] (gateway only), give its two addresses to the AWS
# stack (gcp_vpn.peer_ips), apply AWS, then apply here again with aws_tunnels from AWS.

resource "google_compute_ha_vpn_gateway" "aws" {
  name    = "${var.name}-aws"
  region  = var.region
  network = google_compute_network.this.id
}

resource "google_compute_router" "vpn" {
  name    = "${var.name}-vpn"
  region  = var.region
  network = google_compute_network.this.id

  bgp {
    asn               = var.bgp_asn
    advertise_mode    = "CUSTOM"
    advertised_groups = ["ALL_SUBNETS"]
  }
}

resource "google_compute_external_vpn_gateway" "aws" {
  count = length(var.aws_tunnels) > 0 ? 1 : 0

  name            = "${var.name}-aws"
  redundancy_type = "FOUR_IPS_REDUNDANCY"

  dynamic "interface" {
    for_each = [for t in var.aws_tunnels : t.outside_ip]

    content {
      id         = interface.key
      ip_address = interface.value
    }
  }
}

resource "google_compute_vpn_tunnel" "aws" {
  count = length(var.aws_tunnels)

  name                            = "${var.name}-aws-${count.index}"
  region                          = var.region
  vpn_gateway                     = google_compute_ha_vpn_gateway.aws.id
  vpn_gateway_interface           = var.aws_tunnels[count.index].gcp_interface
  peer_external_gateway           = google_compute_external_vpn_gateway.aws[0].id
  peer_external_gateway_interface = count.index
  shared_secret                   = var.aws_tunnel_psks[count.index]
  router                          = google_compute_router.vpn.id
  ike_version                     = 2
}

resource "google_compute_router_interface" "aws" {
  count = length(var.aws_tunnels)

  name       = "${var.name}-aws-${count.index}"
  router     = google_compute_router.vpn.name
  region     = var.region
  ip_range   = "${var.aws_tunnels[count.index].gcp_inside_ip}/30"
  vpn_tunnel = google_compute_vpn_tunnel.aws[count.index].name
}

resource "google_compute_router_peer" "aws" {
  count = length(var.aws_tunnels)

  name            = "${var.name}-aws-${count.index}"
  router          = google_compute_router.vpn.name
  region          = var.region
  interface       = google_compute_router_interface.aws[count.index].name
  peer_ip_address = var.aws_tunnels[count.index].aws_inside_ip
  peer_asn        = var.aws_asn
}
