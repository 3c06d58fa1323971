# SPDX-License-Identifier: Apache-2.0
terraform {
  required_version = ">= 1.5.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 5.40"
    }
  }

  # Remote state: copy backend.tf.example to backend.tf (a GCS bucket made once by hand,
  # docs/deploy.md step 1), then `terraform init`.
}

provider "google" {
  project = var.project_id
  region  = var.region
}

locals {
  # The Flink SQL job lives beside the other deployment files (deploy/flink/job.sql).
  flink_job_sql = "${path.module}/../../flink/job.sql"
  labels = {
    project    = "boxoffice"
    managed-by = "terraform"
  }
}
