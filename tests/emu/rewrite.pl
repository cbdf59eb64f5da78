#!/usr/bin/perl
# Rewrites a kernels/*.cu file into C++ that g++ compiles against the
# emulator's headers (tests/emu/include); the kernel sources stay unchanged.
#   kernel<<<grid, block[, shmem[, stream]]>>>(args)
#     -> emu::launch(kernel, "kernel", grid, block[, shmem[, stream]])(args)
#   __shared__ T a[..], b;   -> static T a[..], b; emu_shared(&a, sizeof a); emu_shared(&b, sizeof b);
# Line numbers are kept (#line), so __FILE__:__LINE__ name the .cu source.
#   perl tests/emu/rewrite.pl kernels/x.cu > build-emu/kernels/x.cpp
use strict;
use warnings;

my $src = shift or die "usage: rewrite.pl FILE.cu\n";
open(my $in, '<', $src) or die "rewrite.pl: cannot read $src: $!\n";
print "#line 1 \"$src\"\n";
my $n = 0;
while (my $line = <$in>) {
    $n++;
    die "$src:$n: extern __shared__ (dynamic shared memory) is not emulated yet: add it to tests/emu/rewrite.pl\n"
        if $line =~ /extern\s+__shared__/;
    if ($line =~ /^(\s*)__shared__\s+([^;]*);\s*$/) {
        my ($indent, $decl) = ($1, $2);
        my @parts = split /\s*,\s*(?![^\[]*\])/, $decl;
        my @names;
        (my $first = $parts[0]) =~ s/(\s*\[[^\]]*\])+\s*$//;
        $first =~ /(\w+)\s*$/ or die "$src:$n: cannot find the name in __shared__ $decl\n";
        push @names, $1;
        for my $p (@parts[1 .. $#parts]) {
            $p =~ /^\s*(\w+)/ or die "$src:$n: cannot find the name in __shared__ $decl\n";
            push @names, $1;
        }
        $line = "${indent}static $decl;" . join('', map { " emu_shared(&$_, sizeof $_);" } @names) . "\n";
    }
    $line =~ s/([A-Za-z_]\w*(?:\s*<[^<>;()]*>)?)\s*<<</emu::launch($1, "$1", /g;
    $line =~ s/>>>\s*\(/)(/g;
    die "$src:$n: a kernel launch split over lines: keep `kernel<<<` and `>>>(` each on one line\n"
        if $line =~ /<<<|>>>/;
    print $line;
}
