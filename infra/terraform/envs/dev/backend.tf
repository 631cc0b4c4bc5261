# State stays local (terraform.tfstate here) until you choose a backend. For a team, keep it in
# S3 with native locking (Terraform >= 1.10): create the bucket once, uncomment, and run
# `terraform init -migrate-state`.
#
# terraform {
#   backend "s3" {
#     bucket       = "my-terraform-state-<account-id>"
#     key          = "regatta/dev/terraform.tfstate"
#     region       = "us-east-1"
#     encrypt      = true
#     use_lockfile = true
#   }
# }
