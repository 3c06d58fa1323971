# SPDX-License-Identifier: Apache-2.0
# What deploy/scripts/fill-from-terraform.sh writes into deploy/k8s/overlays/aws and
# deploy/argocd (REPLACE_<OUTPUT NAME IN CAPITALS>), and what the GCP stack needs.

output "account_id" {
  description = "AWS account id."
  value       = local.account_id
}

output "region" {
  description = "AWS region."
  value       = var.region
}

output "cluster_name" {
  description = "EKS cluster name (aws eks update-kubeconfig --name ...; Cluster Autoscaler auto-discovery)."
  value       = aws_eks_cluster.this.name
}

output "vpc_cidr" {
  description = "VPC CIDR: the pods' network, BOXOFFICE_TRUSTED_PROXIES of users."
  value       = aws_vpc.this.cidr_block
}

output "ecr_registry" {
  description = "ECR registry host the images are pushed to."
  value       = "${local.account_id}.dkr.ecr.${var.region}.amazonaws.com"
}

output "ecr_repository_urls" {
  description = "ECR repository URL per service."
  value       = { for k, r in aws_ecr_repository.service : k => r.repository_url }
}

output "rds_address" {
  description = "RDS PostgreSQL host name (catalog and booking databases)."
  value       = aws_db_instance.this.address
}

output "rds_master_secret_arn" {
  description = "Secrets Manager secret holding the RDS master credentials (for the one-off database set-up)."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "dynamodb_table" {
  description = "DynamoDB table of the users service."
  value       = aws_dynamodb_table.users.name
}

output "ticketgen_table" {
  description = "DynamoDB table of ticketgen (ticket status, check-ins)."
  value       = aws_dynamodb_table.ticketgen.name
}

output "tickets_bucket" {
  description = "S3 bucket of orders/ and tickets/."
  value       = aws_s3_bucket.tickets.id
}

output "msk_bootstrap" {
  description = "MSK bootstrap servers, SASL/SCRAM over TLS (port 9096)."
  value       = aws_msk_cluster.this.bootstrap_brokers_sasl_scram
}

output "kafka_secret_arns" {
  description = "Secrets Manager secret (username, password) of each Kafka SCRAM user."
  value       = { for k, s in aws_secretsmanager_secret.kafka : k => s.arn }
}

output "users_role_arn" {
  description = "IRSA role of service account boxoffice/users."
  value       = aws_iam_role.service["users"].arn
}

output "booking_role_arn" {
  description = "IRSA role of service account boxoffice/booking."
  value       = aws_iam_role.service["booking"].arn
}

output "ticketgen_role_arn" {
  description = "IRSA role of service account boxoffice/ticketgen."
  value       = aws_iam_role.service["ticketgen"].arn
}

output "cluster_autoscaler_role_arn" {
  description = "IRSA role of service account kube-system/cluster-autoscaler."
  value       = aws_iam_role.cluster_autoscaler.arn
}

output "ticketgen_lambda" {
  description = "Name of the ticket Lambda function."
  value       = aws_lambda_function.ticketgen.function_name
}

output "vpn_tunnels" {
  description = "AWS ends of the VPN tunnels to GCP (the gcp stack's aws_tunnels variable); empty without var.gcp_vpn."
  value = flatten([
    for k, c in aws_vpn_connection.gcp : [
      {
        outside_ip    = c.tunnel1_address
        aws_inside_ip = c.tunnel1_vgw_inside_address
        gcp_inside_ip = c.tunnel1_cgw_inside_address
        gcp_interface = tonumber(k)
      },
      {
        outside_ip    = c.tunnel2_address
        aws_inside_ip = c.tunnel2_vgw_inside_address
        gcp_inside_ip = c.tunnel2_cgw_inside_address
        gcp_interface = tonumber(k)
      },
    ]
  ])
}

output "vpn_tunnel_psks" {
  description = "Pre-shared keys of those tunnels, same order (the gcp stack's aws_tunnel_psks variable)."
  sensitive   = true
  value = flatten([
    for k, c in aws_vpn_connection.gcp : [c.tunnel1_preshared_key, c.tunnel2_preshared_key]
  ])
}

output "dns_resolver_ips" {
  description = "Route 53 Resolver inbound addresses that Cloud DNS forwards the MSK names to; empty without var.gcp_vpn."
  value       = local.gcp_vpn_enabled ? [for ip in aws_route53_resolver_endpoint.inbound[0].ip_address : ip.ip] : []
}
