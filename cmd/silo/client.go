package main

import "github.com/spf13/cobra"

// addClientCommands adds the client verbs (login, push, pull, ...).
func addClientCommands(root *cobra.Command) {}
