"""Suite YAML -> validated runs: schema, parameter layers, expansion, tables and claims."""
