"""One shared game per family of methods: each method file holds only its own terms."""
