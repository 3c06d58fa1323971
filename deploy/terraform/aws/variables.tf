# SPDX-License-Identifier: Apache-2.0
variable "name" {
  description = "Name of the stack: the EKS cluster, and the prefix of every other resource name."
  type        = string
  default     = "boxoffice"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,30}$", var.name))
    error_message = "name: 3 to 31 characters, lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of the whole stack."
  type        = string
  default     = "eu-central-1"
}

variable "az_count" {
  description = "Availability zones used (subnets, NAT, RDS subnet group, one MSK broker each)."
  type        = number
  default     = 3

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 3
    error_message = "az_count: 2 or 3."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC (a /16); must not overlap the GCP network reached over VPN."
  type        = string
  default     = "10.20.0.0/16"
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all private subnets (cheaper) instead of one per zone (zone-resilient)."
  type        = bool
  default     = false
}

variable "eks_version" {
  description = "Kubernetes minor version of the EKS cluster (keep the Cluster Autoscaler chart on the same minor)."
  type        = string
  default     = "1.30"
}

variable "eks_public_access_cidrs" {
  description = "Networks allowed to reach the EKS API endpoint from the internet (your office or CI egress); no default on purpose."
  type        = list(string)
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["t3.large"]
}

variable "node_min_size" {
  description = "Fewest nodes the Cluster Autoscaler keeps (design: 2)."
  type        = number
  default     = 2
}

variable "node_max_size" {
  description = "Most nodes the Cluster Autoscaler may add up to (design: 3)."
  type        = number
  default     = 3
}

variable "db_instance_class" {
  description = "RDS PostgreSQL instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  description = "RDS storage in GiB at creation (storage autoscaling may grow it to 5x)."
  type        = number
  default     = 50
}

variable "db_multi_az" {
  description = "Run RDS with a synchronous standby in a second zone."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated RDS backups (and point-in-time restore); must be at least 1."
  type        = number
  default     = 7

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days: 1 to 35."
  }
}

variable "deletion_protection" {
  description = "Protect RDS and DynamoDB from deletion (set false before a deliberate teardown)."
  type        = bool
  default     = true
}

variable "kafka_version" {
  description = "Apache Kafka version of the MSK cluster."
  type        = string
  default     = "3.6.0"
}

variable "msk_instance_type" {
  description = "MSK broker instance type."
  type        = string
  default     = "kafka.t3.small"
}

variable "msk_volume_size" {
  description = "EBS storage per MSK broker in GiB."
  type        = number
  default     = 100
}

variable "kafka_users" {
  description = "SASL/SCRAM users made on MSK, one generated password each (Secrets Manager AmazonMSK_<name>_<user>)."
  type        = list(string)
  default     = ["booking", "analytics", "flink"]
}

variable "tickets_bucket_name" {
  description = "Name of the S3 tickets bucket; empty: <name>-tickets-<account id>."
  type        = string
  default     = ""
}

variable "ticketgen_zip_path" {
  description = "Path of ticketgen.zip (docker build --target lambda, docs/deploy.md step 2), relative to this directory."
  type        = string
  default     = "../../../dist/ticketgen.zip"
}

variable "gcp_vpn" {
  description = "The GCP side of the site-to-site VPN to MSK (deploy/terraform/gcp outputs): its two HA VPN interface addresses, its network CIDR and BGP ASN. null: no VPN."
  type = object({
    peer_ips = list(string)
    cidr     = string
    bgp_asn  = number
  })
  default = null
}
