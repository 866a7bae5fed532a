from ovms_cli.cli import main

main()
