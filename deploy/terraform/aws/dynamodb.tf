# SPDX-License-Identifier: Apache-2.0
# The kv stores (backends/kv/dynamodb.c), laid out as docs/kv.md says: partition key pk (S), no
# sort key, TTL attribute exp, on-demand billing, point-in-time recovery.
#   users      accounts, sessions, revocations (BOXOFFICE_USERS_STORE)
#   ticketgen  ticket status and check-ins, shared by the pods and the Lambda
#              (BOXOFFICE_TICKETGEN_STORE)

resource "aws_dynamodb_table" "users" {
  name         = "${var.name}-users"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "exp"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  deletion_protection_enabled = var.deletion_protection
}

resource "aws_dynamodb_table" "ticketgen" {
  name         = "${var.name}-ticketgen"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "exp"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }

  deletion_protection_enabled = var.deletion_protection
}
