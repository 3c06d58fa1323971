# SPDX-License-Identifier: Apache-2.0
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.60"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
    tls = {
      source  = "hashicorp/tls"
      version = "~> 4.0"
    }
  }

  # Remote state: copy backend.tf.example to backend.tf (S3 bucket + DynamoDB lock table made
  # once by hand, docs/deploy.md step 1), then `terraform init`.
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project   = "boxoffice"
      ManagedBy = "terraform"
      Stack     = var.name
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  cluster_name = var.name
  account_id   = data.aws_caller_identity.current.account_id
  partition    = data.aws_partition.current.partition
  azs          = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # 10.20.0.0/16 by default: /24 public (load balancers, NAT) at the bottom, a /20 per zone for
  # nodes and pods (VPC CNI gives pods VPC addresses), /24 data subnets (RDS, MSK) at .200+.
  public_subnets  = { for i, az in local.azs : az => cidrsubnet(var.vpc_cidr, 8, i) }
  private_subnets = { for i, az in local.azs : az => cidrsubnet(var.vpc_cidr, 4, i + 1) }
  data_subnets    = { for i, az in local.azs : az => cidrsubnet(var.vpc_cidr, 8, 200 + i) }

  services = ["frontend", "catalog", "users", "booking", "ticketgen", "analytics"]
}
