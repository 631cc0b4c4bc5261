# Cognito as the services expect it (shared/auth.py, shared/cognito.py): a user pool whose
# access tokens the services verify against its JWKS, one public app client with
# USER_PASSWORD_AUTH (plus SRP) and refresh, and the `admins` group read from cognito:groups.
# The originals accepted 6-character passwords; this pool asks for 12 with all classes.
# Machines (tick producers) are a second app client: OAuth 2.0 client credentials at the
# pool's domain (/oauth2/token), a secret kept in Secrets Manager, and the resource server
# scope stocks/ingest that POST /stocks/ticks requires (devkit/cognito.py does the same
# against the emulator).

data "aws_region" "current" {}

data "aws_caller_identity" "current" {}

locals {
  # A prefix domain is global per region; the account id keeps it unique.
  domain_prefix = var.domain_prefix != "" ? var.domain_prefix : "${var.name}-${data.aws_caller_identity.current.account_id}"
}

resource "aws_cognito_user_pool" "this" {
  name                     = var.name
  deletion_protection      = var.deletion_protection ? "ACTIVE" : "INACTIVE"
  username_attributes      = []
  auto_verified_attributes = ["email"]
  mfa_configuration        = var.mfa

  username_configuration {
    case_sensitive = false
  }

  password_policy {
    minimum_length                   = 12
    require_lowercase                = true
    require_uppercase                = true
    require_numbers                  = true
    require_symbols                  = true
    temporary_password_validity_days = 3
  }

  dynamic "software_token_mfa_configuration" {
    for_each = var.mfa == "OFF" ? [] : [1]
    content {
      enabled = true
    }
  }

  admin_create_user_config {
    allow_admin_create_user_only = !var.self_signup
  }

  account_recovery_setting {
    recovery_mechanism {
      name     = "verified_email"
      priority = 1
    }
  }

  schema {
    name                = "email"
    attribute_data_type = "String"
    required            = true
    mutable             = true
    string_attribute_constraints {
      min_length = 3
      max_length = 254
    }
  }
}

resource "aws_cognito_user_pool_client" "web" {
  name                          = "regatta-web"
  user_pool_id                  = aws_cognito_user_pool.this.id
  generate_secret               = false
  prevent_user_existence_errors = "ENABLED"
  enable_token_revocation       = true
  explicit_auth_flows           = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
  access_token_validity         = 60
  id_token_validity             = 60
  refresh_token_validity        = 30

  token_validity_units {
    access_token  = "minutes"
    id_token      = "minutes"
    refresh_token = "days"
  }
}

resource "aws_cognito_user_group" "admins" {
  name         = "admins"
  user_pool_id = aws_cognito_user_pool.this.id
  description  = "May edit and delete anyone's content (services read cognito:groups)"
}

# The hosted domain serves the OAuth 2.0 token endpoint machines use:
# https://<prefix>.auth.<region>.amazoncognito.com/oauth2/token
resource "aws_cognito_user_pool_domain" "this" {
  domain       = local.domain_prefix
  user_pool_id = aws_cognito_user_pool.this.id
}

resource "aws_cognito_resource_server" "stocks" {
  identifier   = "stocks"
  name         = "Stock ingest"
  user_pool_id = aws_cognito_user_pool.this.id

  scope {
    scope_name        = "ingest"
    scope_description = "POST /stocks/ticks"
  }
}

# The tick producers' machine client: client credentials only, scope stocks/ingest only.
resource "aws_cognito_user_pool_client" "stock_producer" {
  name                                 = "regatta-stock-producer"
  user_pool_id                         = aws_cognito_user_pool.this.id
  generate_secret                      = true
  allowed_oauth_flows_user_pool_client = true
  allowed_oauth_flows                  = ["client_credentials"]
  allowed_oauth_scopes                 = aws_cognito_resource_server.stocks.scope_identifiers
  supported_identity_providers         = ["COGNITO"]
  explicit_auth_flows                  = ["ALLOW_REFRESH_TOKEN_AUTH"]
  prevent_user_existence_errors        = "ENABLED"
  enable_token_revocation              = true
  access_token_validity                = 60

  token_validity_units {
    access_token = "minutes"
  }
}

# The producers read their credential from here (never from Terraform outputs or task env).
resource "aws_secretsmanager_secret" "stock_producer" {
  #checkov:skip=CKV2_AWS_57:A Cognito app client secret cannot be changed in place; rotating means a new client, its id added to COGNITO_MACHINE_CLIENT_IDS, producers moved, the old client deleted (docs/deploy.md)
  name                    = "${var.name}/stock-producer-client"
  description             = "OAuth 2.0 client credentials of the tick producers (scope stocks/ingest)."
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.deletion_protection ? 30 : 0
}

resource "aws_secretsmanager_secret_version" "stock_producer" {
  secret_id = aws_secretsmanager_secret.stock_producer.id
  secret_string = jsonencode({
    client_id     = aws_cognito_user_pool_client.stock_producer.id
    client_secret = aws_cognito_user_pool_client.stock_producer.client_secret
    token_url     = "https://${aws_cognito_user_pool_domain.this.domain}.auth.${data.aws_region.current.name}.amazoncognito.com/oauth2/token"
    scope         = "stocks/ingest"
  })
}
