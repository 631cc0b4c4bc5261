# Every topic, queue, DLQ and subscription of infra/topology.yaml (through module.catalog),
# with the semantics shared/topology.py provisions locally: FIFO where declared, a DLQ per
# queue with the redrive after max_receive_count, raw delivery with a filter on the `type`
# message attribute, and a queue policy letting only the queue's own topics and buckets send.

data "aws_caller_identity" "current" {}

resource "aws_sns_topic" "this" {
  for_each                    = var.topics
  name                        = each.value.physical
  fifo_topic                  = each.value.fifo
  content_based_deduplication = false
  kms_master_key_id           = var.kms_key_arn
  tags                        = { Owner = each.value.owner }
}

resource "aws_sns_topic_subscription" "email" {
  for_each = {
    for pair in setproduct([for k, t in var.topics : k if t.email_subscription], var.alert_emails) :
    "${pair[0]}:${pair[1]}" => { topic = pair[0], email = pair[1] }
  }
  topic_arn = aws_sns_topic.this[each.value.topic].arn
  protocol  = "email"
  endpoint  = each.value.email
}

resource "aws_sqs_queue" "dlq" {
  for_each                  = var.queues
  name                      = each.value.dlq_physical
  fifo_queue                = each.value.fifo
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
  tags                      = { Owner = each.value.owner, Role = "dead-letter" }
}

resource "aws_sqs_queue" "queue" {
  for_each                    = var.queues
  name                        = each.value.physical
  fifo_queue                  = each.value.fifo
  content_based_deduplication = each.value.fifo ? false : null
  visibility_timeout_seconds  = each.value.visibility_timeout
  message_retention_seconds   = var.message_retention_seconds
  receive_wait_time_seconds   = 20
  sqs_managed_sse_enabled     = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = each.value.max_receive_count
  })
  tags = { Owner = each.value.owner }
}

# A DLQ takes dead letters from its own queue only.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each  = var.queues
  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.queue[each.key].arn]
  })
}

data "aws_iam_policy_document" "queue" {
  for_each = var.queues

  dynamic "statement" {
    for_each = length(each.value.sender_topic_arns) > 0 ? [1] : []
    content {
      sid       = "TopicsDeliver"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.queue[each.key].arn]
      principals {
        type        = "Service"
        identifiers = ["sns.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = each.value.sender_topic_arns
      }
    }
  }

  dynamic "statement" {
    for_each = length(each.value.sender_bucket_arns) > 0 ? [1] : []
    content {
      sid       = "BucketsNotify"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.queue[each.key].arn]
      principals {
        type        = "Service"
        identifiers = ["s3.amazonaws.com"]
      }
      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = each.value.sender_bucket_arns
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [data.aws_caller_identity.current.account_id]
      }
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"]
    resources = [aws_sqs_queue.queue[each.key].arn]
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

resource "aws_sqs_queue_policy" "queue" {
  for_each  = var.queues
  queue_url = aws_sqs_queue.queue[each.key].id
  policy    = data.aws_iam_policy_document.queue[each.key].json
}

resource "aws_sns_topic_subscription" "queue" {
  for_each             = var.subscriptions
  topic_arn            = aws_sns_topic.this[each.value.topic].arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.queue[each.value.queue].arn
  raw_message_delivery = true
  filter_policy        = each.value.filter_policy
  filter_policy_scope  = "MessageAttributes"
  # The queue must accept the topic before the subscription delivers.
  depends_on = [aws_sqs_queue_policy.queue]
}
