# SPDX-License-Identifier: Apache-2.0
output "ha_vpn_interface_ips" {
  description = "The two public addresses of the HA VPN gateway: the AWS stack's gcp_vpn.peer_ips."
  value       = [for i in google_compute_ha_vpn_gateway.aws.vpn_interfaces : i.ip_address]
}

output "subnet_cidr" {
  description = "Dataproc subnet: the AWS stack's gcp_vpn.cidr (MSK and DNS security groups)."
  value       = google_compute_subnetwork.dataproc.ip_cidr_range
}

output "dataproc_cluster" {
  description = "Name of the Dataproc cluster running the Flink job."
  value       = google_dataproc_cluster.flink.name
}

output "flink_job_sql" {
  description = "Where the Flink SQL job was uploaded."
  value       = "gs://${google_storage_bucket.dataproc.name}/${google_storage_bucket_object.flink_job_sql.name}"
}
