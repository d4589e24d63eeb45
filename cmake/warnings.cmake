# SPDX-License-Identifier: Apache-2.0
# Warnings are errors everywhere (CI builds exactly this).
add_compile_options(-Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
                    -Wstrict-prototypes -Wmissing-prototypes -Wvla)
