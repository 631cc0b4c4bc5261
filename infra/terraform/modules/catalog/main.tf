# The platform's catalogue: infra/topology.yaml and infra/services.yaml decoded once, defaults
# applied as shared/topology.py applies them, physical names and ARNs derived, and every task
# role's statements computed. No provider, no resource: the other modules take their for_each
# sets from here, and the test suite evaluates this module with terraform alone, offline.

locals {
  topology = yamldecode(file(var.topology_file))
  catalog  = yamldecode(file(var.services_file))

  arn = {
    sns      = "arn:${var.partition}:sns:${var.region}:${var.account_id}"
    sqs      = "arn:${var.partition}:sqs:${var.region}:${var.account_id}"
    dynamodb = "arn:${var.partition}:dynamodb:${var.region}:${var.account_id}:table"
    s3       = "arn:${var.partition}:s3:::"
  }

  topics = {
    for name, topic in try(local.topology.topics, {}) : name => {
      owner              = topic.owner
      fifo               = try(topic.fifo, false)
      email_subscription = try(topic.email_subscription, false)
      physical           = "${var.name_prefix}${name}"
      arn                = "${local.arn.sns}:${var.name_prefix}${name}"
    }
  }

  buckets = {
    for name, bucket in try(local.topology.buckets, {}) : name => {
      owner         = bucket.owner
      versioning    = try(bucket.versioning, false)
      notifications = [for n in try(bucket.notifications, []) : merge({ events = ["s3:ObjectCreated:*"], prefix = null }, n)]
      lifecycle     = try(bucket.lifecycle, [])
      physical      = "${var.name_prefix}${name}"
      arn           = "${local.arn.s3}${var.name_prefix}${name}"
      # The Cors model's defaults: no exposed response headers unless declared.
      cors = try(bucket.cors, null) == null ? null : {
        allowed_origins = bucket.cors.allowed_origins
        allowed_methods = bucket.cors.allowed_methods
        expose_headers  = try(bucket.cors.expose_headers, [])
      }
    }
  }

  # The DLQ naming rule of shared/topology.py's dlq_name().
  queues = {
    for name, queue in try(local.topology.queues, {}) : name => {
      owner              = queue.owner
      fifo               = try(queue.fifo, false)
      visibility_timeout = try(queue.visibility_timeout, 30)
      max_receive_count  = try(queue.max_receive_count, 5)
      physical           = "${var.name_prefix}${name}"
      arn                = "${local.arn.sqs}:${var.name_prefix}${name}"
      dlq                = endswith(name, ".fifo") ? "${trimsuffix(name, ".fifo")}-dlq.fifo" : "${name}-dlq"
      dlq_physical       = "${var.name_prefix}${endswith(name, ".fifo") ? "${trimsuffix(name, ".fifo")}-dlq.fifo" : "${name}-dlq"}"
      dlq_arn            = "${local.arn.sqs}:${var.name_prefix}${endswith(name, ".fifo") ? "${trimsuffix(name, ".fifo")}-dlq.fifo" : "${name}-dlq"}"
      sender_topic_arns  = [for s in try(queue.subscriptions, []) : local.topics[s.topic].arn]
      sender_bucket_arns = [for s in try(queue.sources, []) : local.buckets[s.bucket].arn]
      # A worker drains this DLQ (services.yaml worker.dead_letters): its alarm counts receives.
      dlq_drained = contains(flatten([for svc in values(local.catalog.services) : try(svc.worker.dead_letters, [])]), name)
    }
  }

  subscriptions = merge([
    for name, queue in try(local.topology.queues, {}) : {
      for s in try(queue.subscriptions, []) : "${s.topic}->${name}" => {
        topic         = s.topic
        queue         = name
        filter_policy = jsonencode({ type = sort(s.event_types) })
      }
    }
  ]...)

  tables = {
    for name, table in try(local.topology.tables, {}) : name => {
      owner     = table.owner
      hash_key  = table.hash_key.name
      range_key = try(table.range_key.name, null)
      ttl       = try(table.ttl, null)
      indexes = {
        for index, spec in try(table.indexes, {}) : index => {
          hash_key  = spec.hash_key.name
          range_key = try(spec.range_key.name, null)
        }
      }
      # Every key attribute of the table and its indexes, once, with its type (S by default).
      # yamldecode reads YAML 1.1, where a bare N is the boolean false: that is type "N".
      attributes = {
        for key_name, types in {
          for key in concat(
            [table.hash_key], try([table.range_key], []),
            flatten([for spec in values(try(table.indexes, {})) : concat([spec.hash_key], try([spec.range_key], []))])
          ) : key.name => tostring(try(key.type, "S")) == "false" ? "N" : tostring(try(key.type, "S"))...
        } : key_name => types[0]
      }
      physical = "${var.name_prefix}${name}"
      arn      = "${local.arn.dynamodb}/${var.name_prefix}${name}"
    }
  }

  services = {
    for name, svc in local.catalog.services : name => {
      package = svc.package
      prefix  = svc.prefix
      port    = svc.port
      api = try(svc.api, null) == null ? null : {
        command = svc.api.command
        cpu     = try(svc.api.cpu, 256)
        memory  = try(svc.api.memory, 512)
      }
      worker = try(svc.worker, null) == null ? null : {
        command          = svc.worker.command
        queues           = svc.worker.queues
        dead_letters     = try(svc.worker.dead_letters, [])
        cpu              = try(svc.worker.cpu, 256)
        memory           = try(svc.worker.memory, 512)
        drain_seconds    = try(svc.worker.drain_seconds, 25)
        backlog_per_task = try(svc.worker.backlog_per_task, 100)
        # ECS sends SIGKILL stopTimeout seconds after SIGTERM: the drain plus a margin to exit.
        stop_timeout  = min(try(svc.worker.drain_seconds, 25) + 5, 120)
        ephemeral_gib = try(svc.worker.ephemeral_gib, null)
      }
      tables       = try(svc.tables, {})
      buckets      = try(svc.buckets, {})
      publishes    = try(svc.publishes, [])
      sends_to     = try(svc.sends_to, [])
      sends_mail   = try(svc.sends_mail, false)
      environment  = try(svc.environment, {})
      platform_env = try(svc.platform_env, {})
      secrets      = try(svc.secrets, {})
    }
  }

  api_services    = { for name, svc in local.services : name => svc if svc.api != null }
  worker_services = { for name, svc in local.services : name => svc if svc.worker != null }

  # Every process that runs as an ECS service: "<service>-api" and "<service>-worker".
  processes = merge(
    { for name, svc in local.api_services : "${name}-api" => { service = name, kind = "api" } },
    { for name, svc in local.worker_services : "${name}-worker" => { service = name, kind = "worker" } },
  )

  # Access levels of infra/services.yaml and the actions each one grants. Nothing else grants.
  table_actions = {
    read  = ["dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query"]
    write = ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
  }
  object_actions = {
    read  = ["s3:GetObject", "s3:GetObjectTagging"]
    write = ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:GetObjectTagging", "s3:PutObject", "s3:PutObjectTagging"]
  }
  queue_actions = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]
  send_actions  = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"]

  # Where infra/services.yaml names something that is not there, or not the service's own.
  problems = flatten([
    for name, svc in local.services : concat(
      [for t, level in svc.tables : "${name}: table ${t} is not in the topology" if !contains(keys(local.tables), t)],
      [for t, level in svc.tables : "${name}: table ${t} is owned by ${local.tables[t].owner}" if contains(keys(local.tables), t) && try(local.tables[t].owner, "") != name],
      [for t, level in svc.tables : "${name}: table ${t}: access ${level} is not read or write" if !contains(["read", "write"], level)],
      [for b, level in svc.buckets : "${name}: bucket ${b} is not in the topology" if !contains(keys(local.buckets), b)],
      [for b, level in svc.buckets : "${name}: bucket ${b} is owned by ${local.buckets[b].owner}" if contains(keys(local.buckets), b) && try(local.buckets[b].owner, "") != name],
      [for b, level in svc.buckets : "${name}: bucket ${b}: access ${level} is not read or write" if !contains(["read", "write"], level)],
      [for t in svc.publishes : "${name}: topic ${t} is not in the topology" if !contains(keys(local.topics), t)],
      [for t in svc.publishes : "${name}: topic ${t} is owned by ${local.topics[t].owner}" if contains(keys(local.topics), t) && try(local.topics[t].owner, "") != name],
      [for q in try(svc.worker.queues, []) : "${name}: queue ${q} is not in the topology" if !contains(keys(local.queues), q)],
      [for q in try(svc.worker.queues, []) : "${name}: queue ${q} is owned by ${local.queues[q].owner}" if contains(keys(local.queues), q) && try(local.queues[q].owner, "") != name],
      [for q in try(svc.worker.dead_letters, []) : "${name}: dead letters of ${q}, a queue its worker does not consume" if !contains(try(svc.worker.queues, []), q)],
      [for q in svc.sends_to : "${name}: queue ${q} is not in the topology" if !contains(keys(local.queues), q)],
      [for q in svc.sends_to : "${name}: queue ${q} is owned by ${local.queues[q].owner}" if contains(keys(local.queues), q) && try(local.queues[q].owner, "") != name],
    )
  ])

  # The task role of each service: exactly its tables, buckets, topics and queues. The KMS and
  # SES statements, whose ARNs are not topology names, are added by the iam module.
  task_statements = {
    for name, svc in local.services : name => concat(
      [
        for level in ["read", "write"] : {
          sid       = "Tables${title(level)}"
          actions   = local.table_actions[level]
          resources = flatten([for t, l in svc.tables : ["${local.arn.dynamodb}/${var.name_prefix}${t}", "${local.arn.dynamodb}/${var.name_prefix}${t}/index/*"] if l == level])
        } if contains(values(svc.tables), level)
      ],
      length(svc.buckets) == 0 ? [] : [{
        sid       = "BucketsList"
        actions   = ["s3:ListBucket"]
        resources = [for b in keys(svc.buckets) : "${local.arn.s3}${var.name_prefix}${b}"]
      }],
      [
        for level in ["read", "write"] : {
          sid       = "Objects${title(level)}"
          actions   = local.object_actions[level]
          resources = [for b, l in svc.buckets : "${local.arn.s3}${var.name_prefix}${b}/*" if l == level]
        } if contains(values(svc.buckets), level)
      ],
      length(svc.publishes) == 0 ? [] : [{
        sid       = "Publish"
        actions   = ["sns:Publish"]
        resources = [for t in svc.publishes : "${local.arn.sns}:${var.name_prefix}${t}"]
      }],
      svc.worker == null ? [] : [{
        sid       = "Consume"
        actions   = local.queue_actions
        resources = concat([for q in svc.worker.queues : "${local.arn.sqs}:${var.name_prefix}${q}"], [for q in svc.worker.dead_letters : local.queues[q].dlq_arn])
      }],
      length(svc.sends_to) == 0 ? [] : [{
        sid       = "Send"
        actions   = local.send_actions
        resources = [for q in svc.sends_to : "${local.arn.sqs}:${var.name_prefix}${q}"]
      }],
    )
  }
}
