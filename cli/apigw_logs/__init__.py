"""apigw-logs: the command line for the enriched API Gateway access logs.

A package of its own, beside the function's (enrich_function/apigw_enrichment), so that nothing it
needs (click, rich, moto) goes into the Lambda bundle. The commands are in main.py.
"""
