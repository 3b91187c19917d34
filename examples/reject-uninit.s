# Rejected: r2 is read before anything was written to it ("R2 !read_ok").
r0 = r2
exit
