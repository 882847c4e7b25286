"""Amazon Elastic Load Balancing provider (issue 8): classic ELB, ALB and NLB, certificates in ACM or IAM.

So far the groundwork that needs no AWS call, all pure: ``checks`` (what ACM, IAM and the load balancers
refuse and moto, the tests' stand-in for AWS, accepts), ``names`` (IAM server certificate names and paths),
``policies`` (TLS profile -> security policy, the certificate quota), ``refusals`` (their stable codes).
Sources and moto's verified behaviour: docs/aws.md.
"""
