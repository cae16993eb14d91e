"""One module per `yuqing` subcommand."""
