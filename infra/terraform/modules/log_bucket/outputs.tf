output "bucket" {
  description = "Name of the log bucket, available once its policy admits the log writers (the ALB checks on creation)."
  value       = aws_s3_bucket.logs.id
  depends_on  = [aws_s3_bucket_policy.logs]
}

output "arn" {
  description = "ARN of the log bucket."
  value       = aws_s3_bucket.logs.arn
}
