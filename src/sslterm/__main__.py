from sslterm.cli import main

main()
