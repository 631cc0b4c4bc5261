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

  # The lakes' buckets, and the rules every lake gets (see lakes below).
  lake_buckets = [for svc in values(local.catalog.services) : svc.lake.bucket if try(svc.lake.bucket, null) != null]
  raw_archive_rule = {
    id          = "raw-archive"
    tag         = null
    prefix      = "raw/"
    transitions = [{ days = 30, storage_class = "STANDARD_IA" }, { days = 90, storage_class = "GLACIER" }]
    expiration  = null
  }
  results_expiry_rule = {
    id          = "athena-results"
    tag         = null
    prefix      = "results/"
    transitions = []
    expiration  = 30
  }

  buckets = {
    for name, bucket in try(local.topology.buckets, {}) : name => {
      owner         = bucket.owner
      versioning    = try(bucket.versioning, false)
      notifications = [for n in try(bucket.notifications, []) : merge({ events = ["s3:ObjectCreated:*"], prefix = null }, n)]
      # Each rule filters on a tag, a key prefix or both, and moves objects through one
      # `transition` or a list of `transitions`; the data module writes them as declared.
      lifecycle = concat([for rule in try(bucket.lifecycle, []) : {
        id          = rule.id
        tag         = try(rule.tag, null)
        prefix      = try(rule.prefix, null)
        transitions = try(rule.transitions, [rule.transition])
        expiration  = try(rule.expiration_days, null)
        }],
        # A lake (services.yaml lake:) keeps the seed's archive rule for its raw zone unless
        # the topology declares one for raw/ itself, and expires Athena's query results.
        contains(local.lake_buckets, name) && !contains([for rule in try(bucket.lifecycle, []) : try(rule.prefix, "")], "raw/") ? [local.raw_archive_rule] : [],
        contains(local.lake_buckets, name) ? [local.results_expiry_rule] : [],
      )
      physical = "${var.name_prefix}${name}"
      arn      = "${local.arn.s3}${var.name_prefix}${name}"
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
        # It runs its service's outbox relay when it writes the service's outbox table (what
        # the relay reads): the container health check then names the relay too.
        relay = contains(keys(try(svc.worker.tables, {})), "${name}-outbox")
      }
      environment  = try(svc.environment, {})
      platform_env = try(svc.platform_env, {})
      secrets      = try(svc.secrets, {})
    }
  }

  # Tasks a service runs on a timer (services.yaml `schedules:`), not as ECS services: one
  # EventBridge Scheduler schedule each runs the service's own task definition (its worker's,
  # or its API's when it has no worker: the same image) with the declared command, under a
  # task role of its own that modules/iam builds from the schedule's access, as it builds a
  # process's (process_access below).
  schedules = merge([
    for name, svc in local.catalog.services : {
      for task, spec in try(svc.schedules, {}) : "${name}-${task}" => {
        service             = name
        task                = task
        command             = spec.command
        schedule_expression = "rate(${try(spec.every, "")})"
        process             = try(svc.worker, null) != null ? "${name}-worker" : "${name}-api"
      }
    }
  ]...)

  # The lakes analysts query with Athena (services.yaml `lake:`): the service's bucket whose
  # curated/ and raw/ zones modules/lake catalogues in Glue.
  lakes = {
    for name, svc in local.catalog.services : name => {
      bucket   = svc.lake.bucket
      physical = "${var.name_prefix}${svc.lake.bucket}"
      arn      = "${local.arn.s3}${var.name_prefix}${svc.lake.bucket}"
    } if try(svc.lake, null) != null
  }

  api_services    = { for name, svc in local.services : name => svc if svc.api != null }
  worker_services = { for name, svc in local.services : name => svc if svc.worker != null }

  # Every process that runs as an ECS service: "<service>-api" and "<service>-worker".
  processes = merge(
    { for name, svc in local.api_services : "${name}-api" => { service = name, kind = "api" } },
    { for name, svc in local.worker_services : "${name}-worker" => { service = name, kind = "worker" } },
  )

  # What each process may do (services.yaml api:/worker: tables, buckets, publishes,
  # sends_to, sends_mail; a worker also its queues). One task role per process is built from
  # this: an API and its worker never share one.
  access = merge(
    { for name, svc in local.catalog.services : "${name}-api" => { service = name, kind = "api", spec = svc.api } if try(svc.api, null) != null },
    { for name, svc in local.catalog.services : "${name}-worker" => { service = name, kind = "worker", spec = svc.worker } if try(svc.worker, null) != null },
  )
  # A scheduled task declares its access the same way (tables, buckets; it consumes nothing)
  # and gets its task role the same way: one more entry, kind "schedule".
  schedule_access = merge([
    for name, svc in local.catalog.services : {
      for task, spec in try(svc.schedules, {}) : "${name}-${task}" => { service = name, kind = "schedule", spec = spec }
    }
  ]...)
  all_access = {
    for key, p in merge(local.access, local.schedule_access) : key => {
      service   = p.service
      kind      = p.kind
      tables    = try(p.spec.tables, {})
      buckets   = { for b, l in try(p.spec.buckets, {}) : b => flatten([l]) }
      publishes = try(p.spec.publishes, [])
      sends_to  = try(p.spec.sends_to, [])
      # Only a worker consumes (its queues, and the DLQs it drains).
      queues       = p.kind == "worker" ? try(p.spec.queues, []) : []
      dead_letters = p.kind == "worker" ? try(p.spec.dead_letters, []) : []
      sends_mail   = try(p.spec.sends_mail, false)
    }
  }

  # Access levels of infra/services.yaml and the actions each one grants. Nothing else grants.
  table_actions = {
    read  = ["dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:Query"]
    write = ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
  }
  object_actions = {
    read   = ["s3:GetObject", "s3:GetObjectTagging"]
    write  = ["s3:AbortMultipartUpload", "s3:PutObject", "s3:PutObjectTagging"]
    tag    = ["s3:PutObjectTagging"]
    delete = ["s3:DeleteObject"]
  }
  queue_actions = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ReceiveMessage"]
  send_actions  = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"]

  # Where infra/services.yaml names something that is not there, or not the service's own.
  problems = concat(flatten([
    for key, p in local.all_access : concat(
      [for t, level in p.tables : "${key}: table ${t} is not in the topology" if !contains(keys(local.tables), t)],
      [for t, level in p.tables : "${key}: table ${t} is owned by ${local.tables[t].owner}" if contains(keys(local.tables), t) && try(local.tables[t].owner, "") != p.service],
      [for t, level in p.tables : "${key}: table ${t}: access ${level} is not read or write" if !contains(["read", "write"], level)],
      [for b, levels in p.buckets : "${key}: bucket ${b} is not in the topology" if !contains(keys(local.buckets), b)],
      [for b, levels in p.buckets : "${key}: bucket ${b} is owned by ${local.buckets[b].owner}" if contains(keys(local.buckets), b) && try(local.buckets[b].owner, "") != p.service],
      [for b, levels in p.buckets : "${key}: bucket ${b}: access ${join(", ", levels)} is not a list of read, write, tag, delete" if length(levels) == 0 || length(setsubtract(levels, keys(local.object_actions))) > 0],
      [for t in p.publishes : "${key}: topic ${t} is not in the topology" if !contains(keys(local.topics), t)],
      [for t in p.publishes : "${key}: topic ${t} is owned by ${local.topics[t].owner}" if contains(keys(local.topics), t) && try(local.topics[t].owner, "") != p.service],
      [for q in p.queues : "${key}: queue ${q} is not in the topology" if !contains(keys(local.queues), q)],
      [for q in p.queues : "${key}: queue ${q} is owned by ${local.queues[q].owner}" if contains(keys(local.queues), q) && try(local.queues[q].owner, "") != p.service],
      [for q in p.dead_letters : "${key}: dead letters of ${q}, a queue its worker does not consume" if !contains(p.queues, q)],
      [for q in p.sends_to : "${key}: queue ${q} is not in the topology" if !contains(keys(local.queues), q)],
      [for q in p.sends_to : "${key}: queue ${q} is owned by ${local.queues[q].owner}" if contains(keys(local.queues), q) && try(local.queues[q].owner, "") != p.service],
    )
    ]), [
    for key, p in local.access : "${key}: an API consumes no queue (a worker does)" if p.kind == "api" && try(p.spec.queues, null) != null
    ], [
    for key, p in local.schedule_access : "${key}: a scheduled task consumes, publishes and sends nothing (a worker does)" if length(concat(try(p.spec.queues, []), try(p.spec.publishes, []), try(p.spec.sends_to, []))) > 0 || try(p.spec.sends_mail, false)
    ], [
    for key, p in local.schedule_access : "${key}: a scheduled task may not be named like a process" if contains(keys(local.access), key)
    ], [
    for key, s in local.schedules : "${key}: every must be a rate such as \"5 minutes\" or \"1 hour\"" if !can(regex("^[1-9][0-9]* (minute|minutes|hour|hours|day|days)$", try(local.catalog.services[s.service].schedules[s.task].every, "")))
    ], [
    for name, lake in local.lakes : "${name}: lake bucket ${lake.bucket} is not the service's own bucket" if try(local.buckets[lake.bucket].owner, "") != name
  ])

  # The task role of each process and scheduled task: exactly its tables, buckets, topics and
  # queues. The KMS, X-Ray and SES statements, whose ARNs are not topology names, are added by
  # the iam module.
  task_statements = {
    for key, p in local.all_access : key => concat(
      [
        for level in ["read", "write"] : {
          sid       = "Tables${title(level)}"
          actions   = local.table_actions[level]
          resources = flatten([for t, l in p.tables : ["${local.arn.dynamodb}/${var.name_prefix}${t}", "${local.arn.dynamodb}/${var.name_prefix}${t}/index/*"] if l == level])
        } if contains(values(p.tables), level)
      ],
      length(p.buckets) == 0 ? [] : [{
        sid       = "BucketsList"
        actions   = ["s3:ListBucket"]
        resources = [for b in keys(p.buckets) : "${local.arn.s3}${var.name_prefix}${b}"]
      }],
      [
        for level in keys(local.object_actions) : {
          sid       = "Objects${title(level)}"
          actions   = local.object_actions[level]
          resources = [for b, levels in p.buckets : "${local.arn.s3}${var.name_prefix}${b}/*" if contains(levels, level)]
        } if anytrue([for levels in values(p.buckets) : contains(levels, level)])
      ],
      length(p.publishes) == 0 ? [] : [{
        sid       = "Publish"
        actions   = ["sns:Publish"]
        resources = [for t in p.publishes : "${local.arn.sns}:${var.name_prefix}${t}"]
      }],
      length(p.queues) == 0 ? [] : [{
        sid       = "Consume"
        actions   = local.queue_actions
        resources = concat([for q in p.queues : "${local.arn.sqs}:${var.name_prefix}${q}"], [for q in p.dead_letters : local.queues[q].dlq_arn])
      }],
      length(p.sends_to) == 0 ? [] : [{
        sid       = "Send"
        actions   = local.send_actions
        resources = [for q in p.sends_to : "${local.arn.sqs}:${var.name_prefix}${q}"]
      }],
    )
  }
}
