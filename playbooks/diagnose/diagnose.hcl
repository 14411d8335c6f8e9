playbook { description = "placeholder" }
