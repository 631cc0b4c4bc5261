output "vpc_id" {
  description = "The VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "The VPC's CIDR block."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Public subnets (ALB, NAT gateways), one per AZ."
  value       = [for s in aws_subnet.public : s.id]
}

output "app_subnet_ids" {
  description = "Private app subnets (Fargate tasks), one per AZ."
  value       = [for s in aws_subnet.app : s.id]
}

output "data_subnet_ids" {
  description = "Isolated data subnets, reserved for a database tier."
  value       = [for s in aws_subnet.data : s.id]
}

output "nat_public_ips" {
  description = "Addresses the tasks' outbound traffic comes from."
  value       = [for e in aws_eip.nat : e.public_ip]
}
