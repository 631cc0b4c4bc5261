# git push -> CodePipeline (V2, triggered by pushes to var.branch through a CodeStar
# connection to GitHub) -> Build: CodeBuild (buildspec.yml: tests, one image per service pushed
# to ECR, the web app built; outputs `imagedefs`, every imagedefinitions-<service>.json, and
# `web`, web/dist) -> [Approve: manual approval] -> Deploy: first one ECS deploy action per ECS
# service, each reading its service's file from `imagedefs` (rolling update, circuit breaker),
# then, once all of them have succeeded, CodeBuild again (buildspec-web.yml, its own
# least-privilege role) syncing `web` to the web bucket and invalidating its CloudFront paths.
# Nothing is live before the approval; the app goes live right after the APIs it talks to.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition

  connection_arn = var.connection_arn != "" ? var.connection_arn : aws_codestarconnections_connection.github[0].arn
  # The build action's outputs: buildspec.yml's secondary artifact identifiers.
  imagedefs_artifact = "imagedefs"
  web_artifact       = "web"
}

resource "aws_codestarconnections_connection" "github" {
  count         = var.connection_arn == "" ? 1 : 0
  name          = substr("${var.name}-github", 0, 32)
  provider_type = "GitHub"
}

resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_144:Pipeline artifacts are rebuilt from git on demand and expire after artifact_retention_days
  #checkov:skip=CKV2_AWS_62:Only CodePipeline reads the artifacts; nothing reacts to new objects
  bucket        = "${var.name}-${local.account}-pipeline"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket                  = aws_s3_bucket.artifacts.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_logging" "artifacts" {
  bucket        = aws_s3_bucket.artifacts.id
  target_bucket = var.access_log_bucket
  target_prefix = "s3/${aws_s3_bucket.artifacts.id}/"
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  rule {
    id     = "expire-artifacts"
    status = "Enabled"
    filter {}
    expiration {
      days = var.artifact_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.artifacts]
}

data "aws_iam_policy_document" "artifacts_bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.artifacts.arn,
      "${aws_s3_bucket.artifacts.arn}/*",
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

resource "aws_s3_bucket_policy" "artifacts" {
  bucket     = aws_s3_bucket.artifacts.id
  policy     = data.aws_iam_policy_document.artifacts_bucket.json
  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

resource "aws_cloudwatch_log_group" "build" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days, chosen per environment (30 days in dev for cost); raise it where a compliance regime asks for a year
  name              = "/codebuild/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_cloudwatch_log_group" "web_publish" {
  #checkov:skip=CKV_AWS_338:Retention is var.log_retention_days, chosen per environment (30 days in dev for cost); raise it where a compliance regime asks for a year
  name              = "/codebuild/${var.name}-web-publish"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn
}

# --- CodeBuild -------------------------------------------------------------------------

data "aws_iam_policy_document" "codebuild_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codebuild.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "codebuild" {
  name               = "${var.name}-codebuild"
  assume_role_policy = data.aws_iam_policy_document.codebuild_assume.json
}

data "aws_iam_policy_document" "codebuild" {
  statement {
    sid       = "BuildLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.build.arn}:*"]
  }

  statement {
    sid       = "Artifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  statement {
    sid       = "RegistryLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PushImages"
    actions = [
      "ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:CompleteLayerUpload",
      "ecr:GetDownloadUrlForLayer", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart",
    ]
    resources = values(var.repository_arns)
  }

  statement {
    sid       = "PlatformKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "codebuild" {
  name   = "build-and-push"
  role   = aws_iam_role.codebuild.id
  policy = data.aws_iam_policy_document.codebuild.json
}

resource "aws_codebuild_project" "images" {
  #checkov:skip=CKV_AWS_316:Privileged mode is what lets CodeBuild run the Docker daemon that builds the images; the project only ever runs this repository's buildspec
  name           = "${var.name}-images"
  description    = "Tests, builds and pushes one image per Regatta service, builds the web app (buildspec.yml)"
  service_role   = aws_iam_role.codebuild.arn
  build_timeout  = 60
  encryption_key = var.kms_key_arn

  source {
    type      = "CODEPIPELINE"
    buildspec = "buildspec.yml"
  }

  artifacts {
    type = "CODEPIPELINE"
  }

  environment {
    type            = "LINUX_CONTAINER"
    compute_type    = var.build_compute_type
    image           = var.build_image
    privileged_mode = true

    environment_variable {
      name  = "ECR_REGISTRY"
      value = var.registry
    }
    environment_variable {
      name  = "ECR_REPOSITORY_PREFIX"
      value = var.repository_prefix
    }
  }

  cache {
    type  = "LOCAL"
    modes = ["LOCAL_DOCKER_LAYER_CACHE", "LOCAL_SOURCE_CACHE", "LOCAL_CUSTOM_CACHE"]
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.build.name
    }
  }
}

# --- Web publish (the Deploy stage's last action) --------------------------------------

# A project and role of its own: the build role can push images but never touch the live app,
# and this one can publish the app and nothing else.
resource "aws_iam_role" "web_publish" {
  name               = "${var.name}-web-publish"
  assume_role_policy = data.aws_iam_policy_document.codebuild_assume.json
}

data "aws_iam_policy_document" "web_publish" {
  statement {
    sid       = "PublishLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.web_publish.arn}:*"]
  }

  # The action's input artifacts (the source, for buildspec-web.yml, and web/dist): read only,
  # the action has no output.
  statement {
    sid       = "ReadArtifacts"
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${aws_s3_bucket.artifacts.arn}/*"]
  }

  statement {
    sid       = "ReadArtifactsKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

  # Publishing web/dist: `aws s3 sync` lists the bucket to compare, uploads new files and
  # (--delete) removes stale ones; the bucket is SSE-S3, so no key grant is needed.
  statement {
    sid       = "WebBucketList"
    actions   = ["s3:ListBucket"]
    resources = [var.web_bucket_arn]
  }

  statement {
    sid       = "WebObjects"
    actions   = ["s3:DeleteObject", "s3:PutObject"]
    resources = ["${var.web_bucket_arn}/*"]
  }

  # config.json is Terraform's (modules/edge writes the Cognito settings into it): the publish
  # excludes it from its syncs, and may not overwrite or delete it even by mistake.
  statement {
    sid       = "WebConfigIsTerraforms"
    effect    = "Deny"
    actions   = ["s3:DeleteObject", "s3:PutObject"]
    resources = ["${var.web_bucket_arn}/config.json"]
  }

  statement {
    sid       = "WebInvalidation"
    actions   = ["cloudfront:CreateInvalidation"]
    resources = [var.web_distribution_arn]
  }
}

resource "aws_iam_role_policy" "web_publish" {
  name   = "publish-web-app"
  role   = aws_iam_role.web_publish.id
  policy = data.aws_iam_policy_document.web_publish.json
}

resource "aws_codebuild_project" "web_publish" {
  name           = "${var.name}-web-publish"
  description    = "Publishes the built web app to its bucket and invalidates CloudFront (buildspec-web.yml)"
  service_role   = aws_iam_role.web_publish.arn
  build_timeout  = 15
  encryption_key = var.kms_key_arn

  source {
    type      = "CODEPIPELINE"
    buildspec = "buildspec-web.yml"
  }

  artifacts {
    type = "CODEPIPELINE"
  }

  # Three syncs and an invalidation: the smallest machine, no Docker daemon.
  environment {
    type            = "LINUX_CONTAINER"
    compute_type    = "BUILD_GENERAL1_SMALL"
    image           = var.build_image
    privileged_mode = false

    environment_variable {
      name  = "WEB_BUCKET"
      value = var.web_bucket
    }
    environment_variable {
      name  = "WEB_DISTRIBUTION_ID"
      value = var.web_distribution_id
    }
  }

  logs_config {
    cloudwatch_logs {
      group_name = aws_cloudwatch_log_group.web_publish.name
    }
  }
}

# --- CodePipeline ----------------------------------------------------------------------

data "aws_iam_policy_document" "pipeline_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["codepipeline.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_role" "pipeline" {
  name               = "${var.name}-pipeline"
  assume_role_policy = data.aws_iam_policy_document.pipeline_assume.json
}

data "aws_iam_policy_document" "pipeline" {
  statement {
    sid       = "Artifacts"
    actions   = ["s3:GetBucketVersioning", "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"]
    resources = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]
  }

  statement {
    sid = "Source"
    # The service was renamed CodeConnections in 2024; connections answer to either prefix.
    actions   = ["codeconnections:UseConnection", "codestar-connections:UseConnection"]
    resources = [local.connection_arn]
  }

  statement {
    sid       = "Build"
    actions   = ["codebuild:BatchGetBuilds", "codebuild:StartBuild"]
    resources = [aws_codebuild_project.images.arn, aws_codebuild_project.web_publish.arn]
  }

  # The ECS deploy action reads the service's task definition and registers a new revision
  # with the new image; these two ECS actions take no resource ARN.
  statement {
    sid       = "TaskDefinitions"
    actions   = ["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]
    resources = ["*"]
  }

  statement {
    sid       = "Services"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = var.service_arns
  }

  statement {
    sid       = "TagTaskDefinitions"
    actions   = ["ecs:TagResource"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account}:task-definition/${var.name}-*"]
  }

  statement {
    sid       = "PassTaskRoles"
    actions   = ["iam:PassRole"]
    resources = var.pass_role_arns
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "PlatformKey"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "pipeline" {
  name   = "source-build-deploy"
  role   = aws_iam_role.pipeline.id
  policy = data.aws_iam_policy_document.pipeline.json
}

resource "aws_codepipeline" "this" {
  name           = var.name
  role_arn       = aws_iam_role.pipeline.arn
  pipeline_type  = "V2"
  execution_mode = "QUEUED"

  artifact_store {
    type     = "S3"
    location = aws_s3_bucket.artifacts.bucket
    encryption_key {
      id   = var.kms_key_arn
      type = "KMS"
    }
  }

  trigger {
    provider_type = "CodeStarSourceConnection"
    git_configuration {
      source_action_name = "Source"
      push {
        branches {
          includes = [var.branch]
        }
      }
    }
  }

  stage {
    name = "Source"
    action {
      name             = "Source"
      category         = "Source"
      owner            = "AWS"
      provider         = "CodeStarSourceConnection"
      version          = "1"
      namespace        = "SourceVariables"
      output_artifacts = ["source"]
      configuration = {
        ConnectionArn        = local.connection_arn
        FullRepositoryId     = var.repository
        BranchName           = var.branch
        OutputArtifactFormat = "CODE_ZIP"
        DetectChanges        = "false"
      }
    }
  }

  stage {
    name = "Build"
    action {
      name             = "TestBuildPush"
      category         = "Build"
      owner            = "AWS"
      provider         = "CodeBuild"
      version          = "1"
      input_artifacts  = ["source"]
      output_artifacts = [local.imagedefs_artifact, local.web_artifact]
      configuration = {
        ProjectName   = aws_codebuild_project.images.name
        PrimarySource = "source"
        EnvironmentVariables = jsonencode([
          { name = "SOURCE_BRANCH", value = "#{SourceVariables.BranchName}", type = "PLAINTEXT" },
        ])
      }
    }
  }

  dynamic "stage" {
    for_each = var.require_approval ? [1] : []
    content {
      name = "Approve"
      action {
        name     = "Approve"
        category = "Approval"
        owner    = "AWS"
        provider = "Manual"
        version  = "1"
        configuration = {
          CustomData = "Deploy commit #{SourceVariables.CommitId} (#{SourceVariables.CommitMessage}): the ECS services, then the web app?"
        }
      }
    }
  }

  # After the approval (its own stage, when required): the ECS services first, all at once
  # (run_order 1; each action waits for its service's rollout), then the web app (run_order 2),
  # which CodePipeline starts only once every ECS action has succeeded.
  stage {
    name = "Deploy"
    dynamic "action" {
      for_each = var.deployments
      content {
        name            = action.key
        category        = "Deploy"
        owner           = "AWS"
        provider        = "ECS"
        version         = "1"
        run_order       = 1
        input_artifacts = [local.imagedefs_artifact]
        configuration = {
          ClusterName       = var.cluster_name
          ServiceName       = action.key
          FileName          = "imagedefinitions-${action.value}.json"
          DeploymentTimeout = "20"
        }
      }
    }

    action {
      name            = "PublishWeb"
      category        = "Build"
      owner           = "AWS"
      provider        = "CodeBuild"
      version         = "1"
      run_order       = 2
      input_artifacts = ["source", local.web_artifact]
      configuration = {
        ProjectName   = aws_codebuild_project.web_publish.name
        PrimarySource = "source"
      }
    }
  }
}
