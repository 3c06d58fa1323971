# SPDX-License-Identifier: Apache-2.0
# A private network for Dataproc: no external addresses on the VMs, Cloud NAT for package and
# connector downloads, Private Google Access for GCS and Secret Manager.

resource "google_compute_network" "this" {
  name                    = var.name
  auto_create_subnetworks = false
  routing_mode            = "GLOBAL"
}

resource "google_compute_subnetwork" "dataproc" {
  name                     = "${var.name}-dataproc"
  network                  = google_compute_network.this.id
  region                   = var.region
  ip_cidr_range            = var.subnet_cidr
  private_ip_google_access = true
}

# Dataproc nodes talk to each other on every port; nothing else comes in.
resource "google_compute_firewall" "dataproc_internal" {
  name          = "${var.name}-dataproc-internal"
  network       = google_compute_network.this.id
  direction     = "INGRESS"
  source_ranges = [var.subnet_cidr]
  target_tags   = ["dataproc"]

  allow {
    protocol = "all"
  }
}

resource "google_compute_router" "nat" {
  name    = "${var.name}-nat"
  network = google_compute_network.this.id
  region  = var.region
}

resource "google_compute_router_nat" "this" {
  name                               = "${var.name}-nat"
  router                             = google_compute_router.nat.name
  region                             = var.region
  nat_ip_allocate_option             = "AUTO_ONLY"
  source_subnetwork_ip_ranges_to_nat = "ALL_SUBNETWORKS_ALL_IP_RANGES"
}

# MSK broker names (b-N.<cluster>.<id>.cN.kafka.<region>.amazonaws.com) resolve to their VPC
# addresses through the AWS Route 53 Resolver inbound endpoint, over the VPN.
resource "google_dns_managed_zone" "msk" {
  count = length(var.aws_dns_resolver_ips) > 0 ? 1 : 0

  name        = "${var.name}-msk"
  dns_name    = "kafka.${var.aws_region}.amazonaws.com."
  description = "MSK broker names, answered by Route 53 in the AWS VPC"
  visibility  = "private"

  private_visibility_config {
    networks {
      network_url = google_compute_network.this.id
    }
  }

  forwarding_config {
    dynamic "target_name_servers" {
      for_each = var.aws_dns_resolver_ips

      content {
        ipv4_address    = target_name_servers.value
        forwarding_path = "private"
      }
    }
  }
}
