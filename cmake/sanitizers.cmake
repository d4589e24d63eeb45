# SPDX-License-Identifier: Apache-2.0
# ASan + UBSan; any report aborts the process so tests fail loudly.
add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1)
add_link_options(-fsanitize=address,undefined -fno-sanitize-recover=all)
