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
