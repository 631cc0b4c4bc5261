output "public_url" {
  description = "Base URL of the platform: CloudFront (or domain_name), the only way in. PUBLIC_BASE_URL of the services."
  value       = module.edge.public_base_url
}

output "alb_dns_name" {
  description = "The internal ALB's DNS name (reachable only from CloudFront's VPC origin)."
  value       = module.alb.dns_name
}

output "service_urls" {
  description = "Each API's base URL (its OpenAPI docs are at <url>/docs)."
  value       = { for name, s in module.catalog.api_services : name => "${module.edge.public_base_url}${s.prefix}" }
}

output "web_acl_arn" {
  description = "The CloudFront web ACL (empty with waf_enabled = false)."
  value       = module.edge.web_acl_arn
}

output "cognito_user_pool_id" {
  description = "COGNITO_USER_POOL_ID (create users with `aws cognito-idp admin-create-user`)."
  value       = module.auth.user_pool_id
}

output "cognito_client_id" {
  description = "COGNITO_CLIENT_ID of the public app client."
  value       = module.auth.client_id
}

output "cognito_issuer" {
  description = "Issuer of the access tokens."
  value       = module.auth.issuer
}

output "cognito_token_url" {
  description = "OAuth 2.0 token endpoint of machines (COGNITO_TOKEN_URL of tick producers)."
  value       = module.auth.token_url
}

output "stock_producer_secret_arn" {
  description = "Secrets Manager secret holding the tick producers' client id and secret (read it with `aws secretsmanager get-secret-value`)."
  value       = module.auth.stock_producer_secret_arn
}

output "cloudfront_domain" {
  description = "The platform's public domain: web app at /, APIs under their prefixes, media output under /media/outputs."
  value       = module.edge.domain_name
}

output "web_url" {
  description = "The web app."
  value       = module.edge.web_url
}

output "web_bucket" {
  description = "Where the pipeline publishes web/dist (by hand: docs/web.md's fallback)."
  value       = module.edge.web_bucket
}

output "cloudfront_distribution_id" {
  description = "The pipeline invalidates /index.html here after publishing; so should a manual upload."
  value       = module.edge.distribution_id
}

output "name_prefix" {
  description = "REGATTA_NAME_PREFIX: physical name = prefix + the topology's logical name."
  value       = local.name_prefix
}

output "ecr_repositories" {
  description = "Image repository by service."
  value       = module.ecr.repository_urls
}

output "ecs_cluster" {
  description = "The ECS cluster."
  value       = module.ecs.cluster_name
}

output "pipeline_url" {
  description = "The delivery pipeline in the console."
  value       = module.pipeline.pipeline_url
}

output "codestar_connection_arn" {
  description = "The GitHub connection; complete its handshake once in the console (Developer Tools > Connections)."
  value       = module.pipeline.connection_arn
}

output "dashboard_url" {
  description = "The CloudWatch dashboard."
  value       = module.observability.dashboard_url
}

output "alarm_topic_arn" {
  description = "The topic every alarm publishes to."
  value       = module.observability.alarm_topic_arn
}

output "athena_workgroup" {
  description = "Athena workgroup for SQL over the stock archive (database in athena_database)."
  value       = module.analytics.workgroup
}

output "athena_database" {
  description = "Glue database holding the `ticks` table."
  value       = module.analytics.database
}

output "ses_dkim_records" {
  description = "CNAME records to publish when ses_identity is a domain."
  value       = module.mail.dkim_records
}

output "lake_athena" {
  description = "Per service lake: the Athena workgroup and Glue database (tables events, platform_events, bad_rows, raw_web) and the saved queries' ids."
  value = { for name, lake in module.lake : name => {
    workgroup     = lake.workgroup
    database      = lake.database
    named_queries = lake.named_queries
  } }
}

output "schedules" {
  description = "EventBridge Scheduler schedule ARN by scheduled task (\"<service>-<task>\")."
  value       = module.schedules.schedule_arns
}
