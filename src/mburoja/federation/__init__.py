"""Federation between Mburoja instances: signed provenance now; peers, push and pull later."""
