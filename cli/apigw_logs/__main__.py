"""`python -m apigw_logs`: the same as the apigw-logs command."""

from apigw_logs.main import main

main()
