# SPDX-License-Identifier: Apache-2.0
# The tickets bucket: booking writes orders/<order_id>.json, whose ObjectCreated notification
# invokes the ticket Lambda (lambda.tf), which writes tickets/<order_id>.pdf. The notification
# filters on orders/, so the Lambda's own writes never trigger it again.

locals {
  tickets_bucket = var.tickets_bucket_name != "" ? var.tickets_bucket_name : "${var.name}-tickets-${local.account_id}"
}

resource "aws_s3_bucket" "tickets" {
  bucket = local.tickets_bucket
}

resource "aws_s3_bucket_public_access_block" "tickets" {
  bucket = aws_s3_bucket.tickets.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "tickets" {
  bucket = aws_s3_bucket.tickets.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "tickets" {
  bucket = aws_s3_bucket.tickets.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "tickets" {
  bucket = aws_s3_bucket.tickets.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "tickets" {
  bucket = aws_s3_bucket.tickets.id

  rule {
    id     = "old-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }

  depends_on = [aws_s3_bucket_versioning.tickets]
}

data "aws_iam_policy_document" "tickets_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.tickets.arn,
      "${aws_s3_bucket.tickets.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "tickets" {
  bucket = aws_s3_bucket.tickets.id
  policy = data.aws_iam_policy_document.tickets_bucket.json

  depends_on = [aws_s3_bucket_public_access_block.tickets]
}

resource "aws_s3_bucket_notification" "tickets" {
  bucket = aws_s3_bucket.tickets.id

  lambda_function {
    id                  = "render-tickets"
    lambda_function_arn = aws_lambda_function.ticketgen.arn
    events              = ["s3:ObjectCreated:*"]
    filter_prefix       = "orders/"
    filter_suffix       = ".json"
  }

  depends_on = [aws_lambda_permission.s3_invoke_ticketgen]
}
