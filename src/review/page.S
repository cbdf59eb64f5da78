/* The review page's files (src/review/page/), built into the binary: each
   am_page_X runs to am_page_X_end. Assembled from the top of the tree. */
    .section .rodata
    .global am_page_index, am_page_index_end, am_page_js, am_page_js_end, am_page_css, am_page_css_end
am_page_index:
    .incbin "src/review/page/index.html"
am_page_index_end:
am_page_js:
    .incbin "src/review/page/review.js"
am_page_js_end:
am_page_css:
    .incbin "src/review/page/review.css"
am_page_css_end:
    .section .note.GNU-stack,"",@progbits
