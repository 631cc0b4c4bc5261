# The dev environment: the whole platform in one account and region.
#
#   infra/topology.yaml  topics, queues, tables, buckets   -> modules/messaging, modules/data
#   infra/services.yaml  services, processes, access       -> ecr, alb, iam, ecs, pipeline
# both decoded once by modules/catalog. Nothing here names a topic, queue, table, bucket or
# service: adding one to those files is the whole change.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  stack       = "${var.project}-${var.environment}"
  account     = data.aws_caller_identity.current.account_id
  name_prefix = var.name_prefix != "" ? var.name_prefix : "${local.stack}-${local.account}-"
  protect     = var.protect_resources
  # CloudFront's VPC origin speaks HTTPS to the internal ALB when it has a certificate, HTTP
  # otherwise; either way inside AWS's network.
  origin_https = var.certificate_arn != ""
}

module "catalog" {
  source        = "../../modules/catalog"
  topology_file = "${path.module}/../../../topology.yaml"
  services_file = "${path.module}/../../../services.yaml"
  name_prefix   = local.name_prefix
  region        = var.region
  account_id    = local.account
  partition     = data.aws_partition.current.partition
}

module "encryption" {
  source               = "../../modules/encryption"
  name                 = local.stack
  deletion_window_days = local.protect ? 30 : 7
}

module "logs" {
  source        = "../../modules/log_bucket"
  bucket_name   = "${local.stack}-${local.account}-logs"
  force_destroy = !local.protect
}

module "network" {
  source                     = "../../modules/network"
  name                       = local.stack
  cidr                       = var.vpc_cidr
  az_count                   = 2
  single_nat_gateway         = var.single_nat_gateway
  enable_interface_endpoints = var.enable_interface_endpoints
  flow_log_retention_days    = var.log_retention_days
  kms_key_arn                = module.encryption.key_arn
}

module "security" {
  source      = "../../modules/security"
  name        = local.stack
  vpc_id      = module.network.vpc_id
  origin_port = local.origin_https ? 443 : 80
  app_ports   = toset([for s in module.catalog.api_services : s.port])
}

module "messaging" {
  source        = "../../modules/messaging"
  topics        = module.catalog.topics
  queues        = module.catalog.queues
  subscriptions = module.catalog.subscriptions
  kms_key_arn   = module.encryption.key_arn
  alert_emails  = var.trend_alert_emails
}

module "data" {
  source              = "../../modules/data"
  tables              = module.catalog.tables
  buckets             = module.catalog.buckets
  queue_arns          = module.messaging.queue_arns
  kms_key_arn         = module.encryption.key_arn
  access_log_bucket   = module.logs.bucket
  cloudfront_readers  = { "media-output" = module.edge.distribution_arn }
  deletion_protection = local.protect
  force_destroy       = !local.protect
}

module "auth" {
  source              = "../../modules/auth"
  name                = local.stack
  deletion_protection = local.protect
  kms_key_arn         = module.encryption.key_arn
}

# One CloudFront distribution: the web app (its own bucket), the media output and every API
# prefix (to the internal ALB, through a VPC origin), so the browser sees a single origin.
# It is the platform's only door: its web ACL rate-limits each client address.
module "edge" {
  source = "../../modules/edge"
  providers = {
    aws           = aws
    aws.us_east_1 = aws.us_east_1
  }
  name                 = local.stack
  region               = var.region
  origin_bucket_domain = module.data.bucket_regional_domain_names["media-output"]
  web_bucket_name      = "${local.stack}-${local.account}-web"
  access_log_bucket    = module.logs.bucket
  alb_arn              = module.alb.arn
  alb_domain_name      = var.alb_origin_domain != "" ? var.alb_origin_domain : module.alb.dns_name
  alb_https            = module.alb.https
  api_path_prefixes    = sort([for s in module.catalog.api_services : s.prefix])
  cognito_client_id    = module.auth.client_id
  waf_enabled          = var.waf_enabled
  waf_rate_limit       = var.waf_rate_limit
  log_retention_days   = var.log_retention_days
  domain_name          = var.domain_name
  route53_zone_id      = var.route53_zone_id
  force_destroy        = !local.protect
}

module "analytics" {
  source            = "../../modules/analytics"
  name              = local.stack
  archive_bucket    = module.data.bucket_names["stock-archive"]
  results_bucket    = "${local.stack}-${local.account}-athena"
  kms_key_arn       = module.encryption.key_arn
  access_log_bucket = module.logs.bucket
  force_destroy     = !local.protect
}

# Each service's lake (services.yaml lake:): its Glue tables with partition projection over the
# lake's zones, an Athena workgroup writing to the lake's results/ zone with a scan cutoff, and
# the analysts' saved queries.
module "lake" {
  source   = "../../modules/lake"
  for_each = module.catalog.lakes
  name     = "${local.stack}-${each.key}"
  # The physical name the data module gives the bucket, known at plan time.
  bucket               = each.value.physical
  kms_key_arn          = module.encryption.key_arn
  bytes_scanned_cutoff = var.lake_bytes_scanned_cutoff
  force_destroy        = !local.protect
}

module "mail" {
  source   = "../../modules/mail"
  identity = var.ses_identity
  sender   = var.mail_sender
}

module "ecr" {
  source       = "../../modules/ecr"
  name         = local.stack
  services     = toset(keys(module.catalog.services))
  kms_key_arn  = module.encryption.key_arn
  force_delete = !local.protect
}

module "alb" {
  source              = "../../modules/alb"
  name                = local.stack
  vpc_id              = module.network.vpc_id
  subnet_ids          = module.network.app_subnet_ids
  security_group_id   = module.security.alb_security_group_id
  api_services        = module.catalog.api_services
  certificate_arn     = var.certificate_arn
  origin_domain       = var.alb_origin_domain
  access_log_bucket   = module.logs.bucket
  deletion_protection = local.protect
}

module "iam" {
  source           = "../../modules/iam"
  name             = local.stack
  services         = module.catalog.services
  processes        = module.catalog.process_access
  task_statements  = module.catalog.task_statements
  kms_key_arn      = module.encryption.key_arn
  ses_identity_arn = module.mail.identity_arn
  repository_arns  = module.ecr.repository_arns
  log_group_arns   = module.ecs.log_group_arns
  tracing          = var.tracing
}

module "ecs" {
  source                   = "../../modules/ecs"
  name                     = local.stack
  services                 = module.catalog.services
  processes                = module.catalog.processes
  repository_urls          = module.ecr.repository_urls
  image_tag                = var.image_tag
  task_role_arns           = module.iam.task_role_arns
  execution_role_arns      = module.iam.execution_role_arns
  subnet_ids               = module.network.app_subnet_ids
  api_security_group_id    = module.security.api_security_group_id
  worker_security_group_id = module.security.worker_security_group_id
  target_group_arns        = module.alb.target_group_arns
  queue_names              = module.messaging.queue_names
  kms_key_arn              = module.encryption.key_arn
  log_retention_days       = var.log_retention_days
  workers_on_spot          = var.workers_on_spot
  task_sizes               = var.task_sizes
  api_min_count            = var.api_min_count
  api_max_count            = var.api_max_count
  worker_min_count         = var.worker_min_count
  worker_max_count         = var.worker_max_count
  tracing                  = var.tracing
  # uvicorn trusts X-Forwarded-For/-Proto only from these addresses (FORWARDED_ALLOW_IPS): the
  # VPC, where the ALB and CloudFront's VPC origin interfaces live. The client address is then
  # the one CloudFront saw; a header a client forges stays to the left of it and is ignored.
  forwarded_allow_ips = module.network.vpc_cidr

  # What shared/settings.py reads. AWS_ENDPOINT_URL stays unset: botocore finds AWS itself.
  environment = {
    AWS_REGION           = var.region
    REGATTA_NAME_PREFIX  = local.name_prefix
    REGATTA_ENV          = var.environment
    LOG_LEVEL            = "INFO"
    LOG_FORMAT           = "json"
    COGNITO_USER_POOL_ID = module.auth.user_pool_id
    COGNITO_CLIENT_ID    = module.auth.client_id
    # Machine clients whose tokens (client credentials) the services accept; routes check
    # the scope (POST /stocks/ticks: stocks/ingest).
    COGNITO_MACHINE_CLIENT_IDS = join(",", module.auth.machine_client_ids)
    # Links the services hand out (calendar feeds) start with the public origin, never with
    # the internal ALB's name and scheme that a request carries behind CloudFront.
    PUBLIC_BASE_URL = module.edge.public_base_url
  }
  platform_values = {
    cdn_base_url = module.edge.media_base_url
    mail_sender  = module.mail.sender
    admin_email  = var.meetings_admin_email
    # The platform's public origin (the custom domain's when there is one): the browser
    # origin a service lets call it cross-origin (INSIGHTS_CORS_ORIGINS, the visitor counter).
    site_origin = module.edge.public_base_url
  }

  # A target group must belong to a listener rule before a service can register into it.
  depends_on = [module.alb]
}

# The services' timers (services.yaml schedules:, e.g. the insights compaction every 5
# minutes): EventBridge Scheduler runs each as an ECS task of its service's task definition.
module "schedules" {
  source                   = "../../modules/schedules"
  name                     = local.stack
  schedules                = module.catalog.schedules
  cluster_arn              = module.ecs.cluster_arn
  task_definition_families = module.ecs.task_definition_families
  task_role_arns           = module.iam.task_role_arns
  execution_role_arns      = module.iam.execution_role_arns
  subnet_ids               = module.network.app_subnet_ids
  security_group_id        = module.security.worker_security_group_id
  kms_key_arn              = module.encryption.key_arn
  on_spot                  = var.workers_on_spot
  enabled                  = var.schedules_enabled
}

# The pipeline registers the processes' task definitions: it may pass their task roles and the
# execution roles, not a scheduled task's role (only its scheduler passes that one).
module "pipeline" {
  source             = "../../modules/pipeline"
  name               = local.stack
  repository         = var.github_repository
  branch             = var.github_branch
  connection_arn     = var.codestar_connection_arn
  kms_key_arn        = module.encryption.key_arn
  access_log_bucket  = module.logs.bucket
  registry           = module.ecr.registry
  repository_prefix  = local.stack
  repository_arns    = module.ecr.repository_arns
  cluster_name       = module.ecs.cluster_name
  deployments        = { for name, p in module.catalog.processes : name => p.service }
  service_arns       = values(module.ecs.service_arns)
  pass_role_arns     = concat([for name in keys(module.catalog.processes) : module.iam.task_role_arns[name]], values(module.iam.execution_role_arns))
  require_approval   = var.require_approval
  log_retention_days = var.log_retention_days
  force_destroy      = !local.protect

  # The Deploy stage's last action publishes web/dist to the edge's bucket and invalidates its
  # distribution. The edge module takes nothing from the pipeline, so this adds no dependency
  # cycle.
  web_bucket           = module.edge.web_bucket
  web_bucket_arn       = module.edge.web_bucket_arn
  web_distribution_id  = module.edge.distribution_id
  web_distribution_arn = module.edge.distribution_arn
}

module "observability" {
  source                    = "../../modules/observability"
  name                      = local.stack
  queues                    = module.catalog.queues
  alb_arn_suffix            = module.alb.arn_suffix
  target_group_arn_suffixes = module.alb.target_group_arn_suffixes
  cluster_name              = module.ecs.cluster_name
  ecs_services              = toset(keys(module.catalog.processes))
  kms_key_arn               = module.encryption.key_arn
  alarm_emails              = var.alarm_emails
}
