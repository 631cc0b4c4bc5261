# CloudFront's web ACL and its certificate live in us-east-1 whatever the stack's region: the
# caller passes a provider for that region as aws.us_east_1.
terraform {
  required_providers {
    aws = {
      source                = "hashicorp/aws"
      configuration_aliases = [aws.us_east_1]
    }
  }
}
