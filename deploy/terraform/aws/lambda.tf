# SPDX-License-Identifier: Apache-2.0
# The ticket Lambda: boxoffice-ticketgen as a provided.al2023 custom runtime. ticketgen.zip comes
# from `docker build --target lambda` (deploy/docker/Dockerfile, deploy/docker/lambda.sh): its
# `bootstrap` is the binary with its own glibc in lib/ (docs/deploy.md, "The Lambda zip").

data "aws_iam_policy_document" "lambda_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "lambda_ticketgen" {
  name               = "${var.name}-ticketgen-lambda"
  assume_role_policy = data.aws_iam_policy_document.lambda_assume.json
}

# The same permissions as the ticketgen pods (iam.tf: the bucket and the ticketgen table) ...
resource "aws_iam_role_policy" "lambda_ticketgen" {
  name   = "${var.name}-ticketgen"
  role   = aws_iam_role.lambda_ticketgen.id
  policy = data.aws_iam_policy_document.ticketgen.json
}

# ... plus its own log group.
data "aws_iam_policy_document" "lambda_logs" {
  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda_ticketgen.arn}:*"]
  }
}

resource "aws_iam_role_policy" "lambda_logs" {
  name   = "${var.name}-ticketgen-logs"
  role   = aws_iam_role.lambda_ticketgen.id
  policy = data.aws_iam_policy_document.lambda_logs.json
}

resource "aws_cloudwatch_log_group" "lambda_ticketgen" {
  name              = "/aws/lambda/${var.name}-ticketgen"
  retention_in_days = 30
}

resource "aws_lambda_function" "ticketgen" {
  function_name    = "${var.name}-ticketgen"
  role             = aws_iam_role.lambda_ticketgen.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["x86_64"]
  filename         = var.ticketgen_zip_path
  source_code_hash = filebase64sha256(var.ticketgen_zip_path)
  memory_size      = 512
  timeout          = 60

  environment {
    variables = {
      BOXOFFICE_OBJECTS         = "s3://${aws_s3_bucket.tickets.id}?region=${var.region}"
      BOXOFFICE_TICKETGEN_STORE = "dynamodb://${aws_dynamodb_table.ticketgen.name}?region=${var.region}"
      BOXOFFICE_LOG_LEVEL       = "info"
      # The ticket signing keys must be the ticketgen pods' (Secret boxoffice-ticket-signing-keys);
      # how they reach /tmp at a cold start is open: docs/deploy.md, "Known gaps".
      BOXOFFICE_TICKET_KEYS = "/tmp/ticket-keys"
      # Debian's CA bundle travels in the zip; Amazon Linux names its own differently.
      SSL_CERT_FILE = "/var/task/certs/ca-certificates.crt"
    }
  }

  depends_on = [
    aws_iam_role_policy.lambda_logs,
    aws_cloudwatch_log_group.lambda_ticketgen,
  ]
}

resource "aws_lambda_permission" "s3_invoke_ticketgen" {
  statement_id   = "AllowInvokeFromTicketsBucket"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.ticketgen.function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.tickets.arn
  source_account = local.account_id
}
