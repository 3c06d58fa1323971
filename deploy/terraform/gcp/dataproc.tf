# SPDX-License-Identifier: Apache-2.0
# Dataproc with the Flink optional component runs the analytics Flink SQL job of
# deploy/flink/job.sql, reading booking-events from MSK over the VPN (vpn.tf) with SCRAM over
# TLS. The job file and the init action go to a staging bucket; the init action
# (scripts/flink-sql-init.sh) submits the job on the master once YARN is up.

resource "google_storage_bucket" "dataproc" {
  name                        = "${var.project_id}-${var.name}-dataproc"
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  versioning {
    enabled = true
  }
}

resource "google_storage_bucket_object" "flink_job_sql" {
  name   = "flink/job.sql"
  bucket = google_storage_bucket.dataproc.name
  source = local.flink_job_sql
}

resource "google_storage_bucket_object" "flink_init" {
  name   = "init/flink-sql-init.sh"
  bucket = google_storage_bucket.dataproc.name
  source = "${path.module}/scripts/flink-sql-init.sh"
}

resource "google_service_account" "dataproc" {
  account_id   = "${var.name}-dataproc"
  display_name = "boxoffice Dataproc (Flink analytics)"
}

resource "google_project_iam_member" "dataproc_worker" {
  project = var.project_id
  role    = "roles/dataproc.worker"
  member  = "serviceAccount:${google_service_account.dataproc.email}"
}

resource "google_storage_bucket_iam_member" "dataproc_bucket" {
  bucket = google_storage_bucket.dataproc.name
  role   = "roles/storage.objectAdmin"
  member = "serviceAccount:${google_service_account.dataproc.email}"
}

resource "google_secret_manager_secret" "kafka_password" {
  secret_id = "${var.name}-kafka-${var.kafka_username}"
  labels    = local.labels

  replication {
    auto {}
  }
}

resource "google_secret_manager_secret_version" "kafka_password" {
  secret      = google_secret_manager_secret.kafka_password.id
  secret_data = var.kafka_password
}

resource "google_secret_manager_secret_iam_member" "dataproc_kafka_password" {
  secret_id = google_secret_manager_secret.kafka_password.id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.dataproc.email}"
}

resource "google_dataproc_cluster" "flink" {
  name   = "${var.name}-flink"
  region = var.region
  labels = local.labels

  cluster_config {
    staging_bucket = google_storage_bucket.dataproc.name

    gce_cluster_config {
      subnetwork             = google_compute_subnetwork.dataproc.id
      internal_ip_only       = true
      service_account        = google_service_account.dataproc.email
      service_account_scopes = ["cloud-platform"]
      tags                   = ["dataproc"]

      # Read by scripts/flink-sql-init.sh; the password itself stays in Secret Manager.
      metadata = {
        boxoffice-flink-job-sql         = "gs://${google_storage_bucket.dataproc.name}/${google_storage_bucket_object.flink_job_sql.name}"
        boxoffice-kafka-bootstrap       = var.msk_bootstrap
        boxoffice-kafka-username        = var.kafka_username
        boxoffice-kafka-password-secret = google_secret_manager_secret.kafka_password.secret_id
        boxoffice-kafka-connector-url   = var.flink_kafka_connector_url
      }

      shielded_instance_config {
        enable_secure_boot          = true
        enable_vtpm                 = true
        enable_integrity_monitoring = true
      }
    }

    # One master: Dataproc's HA mode does not support Flink's HA mode.
    master_config {
      num_instances = 1
      machine_type  = var.master_machine_type

      disk_config {
        boot_disk_size_gb = 100
      }
    }

    worker_config {
      num_instances = var.worker_count
      machine_type  = var.worker_machine_type

      disk_config {
        boot_disk_size_gb = 100
      }
    }

    software_config {
      image_version       = var.dataproc_image_version
      optional_components = ["FLINK"]
    }

    endpoint_config {
      enable_http_port_access = true
    }

    initialization_action {
      script      = "gs://${google_storage_bucket.dataproc.name}/${google_storage_bucket_object.flink_init.name}"
      timeout_sec = 600
    }
  }

  depends_on = [
    google_project_iam_member.dataproc_worker,
    google_storage_bucket_iam_member.dataproc_bucket,
    google_secret_manager_secret_iam_member.dataproc_kafka_password,
    google_secret_manager_secret_version.kafka_password,
  ]
}
