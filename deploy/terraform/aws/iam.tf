# SPDX-License-Identifier: Apache-2.0
# One IRSA role per Kubernetes service account that calls AWS, each with only what its service
# does (deploy/k8s/overlays/aws/service-accounts.yaml carries the role ARNs):
#   users     the users table: GetItem, UpdateItem (conditional puts), DeleteItem, DescribeTable
#             (readiness ping); backends/kv/dynamodb.c calls nothing else outside the tests
#   booking   s3:PutObject under orders/ of the tickets bucket, nothing else
#   ticketgen the tickets bucket (read orders/ and tickets/, write tickets/) and its own
#             DynamoDB table (ticket status, check-ins); the ticket Lambda gets the same
# catalog, analytics and frontend call no AWS API and have no role.

locals {
  oidc_issuer_host = replace(aws_iam_openid_connect_provider.eks.url, "https://", "")

  irsa_service_accounts = {
    "users"              = "boxoffice:users"
    "booking"            = "boxoffice:booking"
    "ticketgen"          = "boxoffice:ticketgen"
    "cluster-autoscaler" = "kube-system:cluster-autoscaler"
  }
}

data "aws_iam_policy_document" "irsa_assume" {
  for_each = local.irsa_service_accounts

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [aws_iam_openid_connect_provider.eks.arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer_host}:sub"
      values   = ["system:serviceaccount:${each.value}"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer_host}:aud"
      values   = ["sts.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "users" {
  statement {
    sid = "UsersTableOnly"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:DescribeTable",
    ]
    resources = [aws_dynamodb_table.users.arn]
  }
}

data "aws_iam_policy_document" "booking" {
  statement {
    sid       = "PutOrdersOnly"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.tickets.arn}/orders/*"]
  }
}

data "aws_iam_policy_document" "ticketgen" {
  statement {
    sid       = "ReadOrdersAndTickets"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.tickets.arn}/orders/*", "${aws_s3_bucket.tickets.arn}/tickets/*"]
  }

  statement {
    sid       = "WriteTickets"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.tickets.arn}/tickets/*"]
  }

  statement {
    sid       = "ListTheBucket"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.tickets.arn]
  }

  statement {
    sid = "TicketgenTableOnly"
    actions = [
      "dynamodb:GetItem",
      "dynamodb:UpdateItem",
      "dynamodb:DeleteItem",
      "dynamodb:DescribeTable",
    ]
    resources = [aws_dynamodb_table.ticketgen.arn]
  }
}

locals {
  service_policies = {
    users     = data.aws_iam_policy_document.users.json
    booking   = data.aws_iam_policy_document.booking.json
    ticketgen = data.aws_iam_policy_document.ticketgen.json
  }
}

resource "aws_iam_role" "service" {
  for_each = local.service_policies

  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.irsa_assume[each.key].json
}

resource "aws_iam_role_policy" "service" {
  for_each = local.service_policies

  name   = "${var.name}-${each.key}"
  role   = aws_iam_role.service[each.key].id
  policy = each.value
}
