output "user_pool_id" {
  description = "COGNITO_USER_POOL_ID of the services."
  value       = aws_cognito_user_pool.this.id
}

output "user_pool_arn" {
  description = "ARN of the user pool."
  value       = aws_cognito_user_pool.this.arn
}

output "client_id" {
  description = "COGNITO_CLIENT_ID of the services."
  value       = aws_cognito_user_pool_client.web.id
}

output "issuer" {
  description = "The tokens' iss claim (what the services derive as COGNITO_ISSUER)."
  value       = "https://cognito-idp.${data.aws_region.current.name}.amazonaws.com/${aws_cognito_user_pool.this.id}"
}

output "machine_client_ids" {
  description = "COGNITO_MACHINE_CLIENT_IDS of the services: the machine app clients (tick producers)."
  value       = [aws_cognito_user_pool_client.stock_producer.id]
}

output "token_url" {
  description = "The pool's OAuth 2.0 token endpoint (COGNITO_TOKEN_URL of machines)."
  value       = "https://${aws_cognito_user_pool_domain.this.domain}.auth.${data.aws_region.current.name}.amazoncognito.com/oauth2/token"
}

output "stock_producer_secret_arn" {
  description = "Secrets Manager secret with the tick producers' client id, secret, token URL and scope."
  value       = aws_secretsmanager_secret.stock_producer.arn
}
