"""The papers' experiments that are not open-set methods: fooling (Table I of paper 004),
openness and 1-class recognition (paper 004), choosing subclusters and the GMVAE-vs-CROSR
protocol (paper 000), attention maps and corruptions (paper 003). Studies may import
methods and the core; the core never imports them."""
