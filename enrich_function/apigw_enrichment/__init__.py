"""The Firehose transformer that adds the usage plan and customer to API Gateway access logs.

Lambda's handler is apigw_enrichment.handler.lambda_handler. The package is what `sam build`
bundles (CodeUri: enrich_function/), with enrich_function/requirements.txt.
"""
