# SPDX-License-Identifier: Apache-2.0
# MSK for topic booking-events: one broker per zone in the data subnets, no public access, TLS
# between clients and brokers and between brokers, SASL/SCRAM authentication (librdkafka, which
# booking and analytics use, speaks SCRAM; MSK's IAM mechanism needs an AWS signer it lacks).
# One SCRAM user per client (var.kafka_users), password generated into Secrets Manager.
# GCP's Dataproc reaches the brokers over the site-to-site VPN (vpn.tf), never over the internet.

resource "aws_kms_key" "msk" {
  description         = "${var.name} MSK data at rest and SCRAM secrets"
  enable_key_rotation = true
}

resource "aws_security_group" "msk" {
  name        = "${var.name}-msk"
  description = "Kafka SASL/SCRAM over TLS from EKS (and GCP over the VPN)"
  vpc_id      = aws_vpc.this.id
}

resource "aws_vpc_security_group_ingress_rule" "msk_from_eks" {
  security_group_id            = aws_security_group.msk.id
  referenced_security_group_id = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 9096
  to_port                      = 9096
  description                  = "SASL/SCRAM TLS listener, EKS"
}

resource "aws_vpc_security_group_ingress_rule" "msk_from_gcp" {
  count = var.gcp_vpn == null ? 0 : 1

  security_group_id = aws_security_group.msk.id
  cidr_ipv4         = var.gcp_vpn.cidr
  ip_protocol       = "tcp"
  from_port         = 9096
  to_port           = 9096
  description       = "SASL/SCRAM TLS listener, Dataproc over the VPN"
}

resource "aws_msk_configuration" "this" {
  name           = "${var.name}-kafka"
  kafka_versions = [var.kafka_version]

  # booking-events is created on purpose (partitions by expected event count), never by a typo.
  server_properties = <<-EOT
    auto.create.topics.enable=false
    default.replication.factor=${min(3, var.az_count)}
    min.insync.replicas=${min(2, var.az_count)}
    num.partitions=6
  EOT
}

resource "aws_cloudwatch_log_group" "msk" {
  name              = "/aws/msk/${var.name}"
  retention_in_days = 30
}

resource "aws_msk_cluster" "this" {
  cluster_name           = var.name
  kafka_version          = var.kafka_version
  number_of_broker_nodes = length(local.azs)

  broker_node_group_info {
    instance_type   = var.msk_instance_type
    client_subnets  = [for s in aws_subnet.data : s.id]
    security_groups = [aws_security_group.msk.id]

    storage_info {
      ebs_storage_info {
        volume_size = var.msk_volume_size
      }
    }

    connectivity_info {
      public_access {
        type = "DISABLED"
      }
    }
  }

  client_authentication {
    unauthenticated = false

    sasl {
      scram = true
      iam   = false
    }
  }

  encryption_info {
    encryption_at_rest_kms_key_arn = aws_kms_key.msk.arn

    encryption_in_transit {
      client_broker = "TLS"
      in_cluster    = true
    }
  }

  configuration_info {
    arn      = aws_msk_configuration.this.arn
    revision = aws_msk_configuration.this.latest_revision
  }

  logging_info {
    broker_logs {
      cloudwatch_logs {
        enabled   = true
        log_group = aws_cloudwatch_log_group.msk.name
      }
    }
  }
}

# SCRAM users: MSK requires secrets named AmazonMSK_* encrypted with a customer managed key.
resource "random_password" "kafka" {
  for_each = toset(var.kafka_users)

  length  = 32
  special = false
}

resource "aws_secretsmanager_secret" "kafka" {
  for_each = toset(var.kafka_users)

  name                    = "AmazonMSK_${var.name}_${each.key}"
  kms_key_id              = aws_kms_key.msk.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "kafka" {
  for_each = toset(var.kafka_users)

  secret_id = aws_secretsmanager_secret.kafka[each.key].id
  secret_string = jsonencode({
    username = each.key
    password = random_password.kafka[each.key].result
  })
}

resource "aws_msk_scram_secret_association" "this" {
  cluster_arn     = aws_msk_cluster.this.arn
  secret_arn_list = [for s in aws_secretsmanager_secret.kafka : s.arn]

  depends_on = [aws_secretsmanager_secret_version.kafka]
}
