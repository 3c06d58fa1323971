# SPDX-License-Identifier: Apache-2.0
# One PostgreSQL 15 instance; catalog and booking each get their own database and role on it
# (their table names overlap), made once from inside the cluster: docs/deploy.md, step 6.
# The master password is generated and kept by RDS in Secrets Manager, never in code or state.

resource "aws_db_subnet_group" "this" {
  name       = "${var.name}-data"
  subnet_ids = [for s in aws_subnet.data : s.id]
}

resource "aws_security_group" "rds" {
  name        = "${var.name}-rds"
  description = "PostgreSQL from the EKS nodes and pods"
  vpc_id      = aws_vpc.this.id
}

resource "aws_vpc_security_group_ingress_rule" "rds_from_eks" {
  security_group_id            = aws_security_group.rds.id
  referenced_security_group_id = aws_eks_cluster.this.vpc_config[0].cluster_security_group_id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
  description                  = "EKS nodes and pods"
}

resource "aws_db_parameter_group" "postgres15" {
  name   = "${var.name}-postgres15"
  family = "postgres15"

  # Clients must use TLS (the overlay's URLs say sslmode=require).
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }
}

resource "aws_db_instance" "this" {
  identifier     = "${var.name}-postgres"
  engine         = "postgres"
  engine_version = "15"
  instance_class = var.db_instance_class

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_allocated_storage * 5
  storage_type          = "gp3"
  storage_encrypted     = true

  username                    = "boxoffice_admin"
  manage_master_user_password = true

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.rds.id]
  publicly_accessible    = false
  multi_az               = var.db_multi_az
  parameter_group_name   = aws_db_parameter_group.postgres15.name

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = "02:00-03:00"
  maintenance_window        = "sun:03:30-sun:04:30"
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name}-postgres-final"

  auto_minor_version_upgrade   = true
  performance_insights_enabled = true
}
